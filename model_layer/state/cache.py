"""Caches of state that every replica keeps, dropped when any replica changes that state.

Key and tenant lookups are on every request's path, so each replica serves them from memory.
Every write to tenants or keys bumps ``state_revision`` (:mod:`model_layer.state.tenants`); a
:class:`RevisionWatcher` thread polls it (one indexed one-row read per interval) and entries
cached under an older revision count as misses. So a revocation or a limit change made through
any replica, the CLI or the admin API takes effect everywhere within one poll interval (plus one
query), and at once on the replica that made it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("strata.state")

K = TypeVar("K")
V = TypeVar("V")


class RevisionWatcher:
    """Knows the latest state revision: polled in a daemon thread, refreshed at once after local writes."""

    def __init__(self, read_revision: Callable[[], int], interval_s: float = 1.0):
        self._read = read_revision
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._begun = 0  # reads begun so far: a read's ticket
        self._applied = 0  # the ticket of the read `current` comes from
        self._failing = False
        self.current = read_revision()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="strata-state-revision", daemon=True)
            self._thread.start()

    def refresh(self) -> None:
        """Re-read the revision now (after a write this process made).

        The poller's read and a local write's can overlap: a read that began before the write and
        ends after it must not put the older revision back (that would make a key this replica
        just revoked valid again until the next poll), so only a later-begun read's answer counts.
        """
        with self._lock:
            self._begun += 1
            ticket = self._begun
        try:
            revision = self._read()
        except Exception as exc:  # the database is down or unreachable: the poller tries again
            self._note_failure(exc)
            return
        with self._lock:
            if ticket > self._applied:
                self._applied, self.current = ticket, revision
            recovered, self._failing = self._failing, False
        if recovered:
            log.warning("the state revision can be read again")

    def _note_failure(self, exc: Exception) -> None:
        # Once per outage, one line: a traceback at every poll interval buries everything else.
        with self._lock:
            first, self._failing = not self._failing, True
        text = str(exc).strip()
        reason = type(exc).__name__ + (f": {text.splitlines()[0]}" if text else "")
        if first:
            log.warning(
                "could not read the state revision (%s); cached keys and tenants stay in use"
                " until it can be read",
                reason,
            )
        else:
            log.debug("still cannot read the state revision (%s)", reason)

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.refresh()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class RevisionCache(Generic[K, V]):
    """A bounded LRU whose entries are valid only for the revision they were read at.

    Used from one event loop; loaders (blocking database reads) run in worker threads. Misses are
    cached too (``None``), bounded like hits, so unknown keys cannot grow memory without limit.
    """

    def __init__(self, watcher: RevisionWatcher, max_entries: int = 10_000):
        self._watcher = watcher
        self._max = max_entries
        self._entries: OrderedDict[K, tuple[int, V]] = OrderedDict()

    async def get(self, key: K, loader: Callable[[K], V]) -> V:
        revision = self._watcher.current
        entry = self._entries.get(key)
        if entry is not None and entry[0] == revision:
            self._entries.move_to_end(key)
            return entry[1]
        value = await asyncio.to_thread(loader, key)
        self._entries[key] = (revision, value)
        self._entries.move_to_end(key)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()
