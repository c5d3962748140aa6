"""Usage writes off the event loop, batched, durable before the caller goes on, never lost.

:class:`UsageWriter` owns one thread. Callers hand it a record and await its commit, so a
response is only finished once its usage is in the database (``kill -9`` of the process loses no
acknowledged usage); records that arrive while a commit is running go into the next one (group
commit), which is what keeps the cost per request small under load.

If the database fails (a PostgreSQL restart, a locked SQLite file), the batch is retried with
backoff for a few seconds; if it still fails, the records are appended (and fsynced) to a spool
file beside the state, and replayed before the next batch that succeeds, or at the next start.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from model_layer.state.records import UsageRecord

log = logging.getLogger("strata.state.usage")

MAX_BATCH = 512
RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)

WriteBatch = Callable[[Sequence[UsageRecord]], None]


class UsageWriter:
    def __init__(
        self,
        write_batch: WriteBatch,
        spool: Path | None = None,
        *,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    ):
        self._write = write_batch
        self._spool = spool
        self._delays = tuple(retry_delays_s)
        self._queue: queue.Queue[tuple[UsageRecord, concurrent.futures.Future[None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="strata-usage-writer", daemon=True)
        self._closed = False
        try:
            self._replay_spool()
        except Exception as exc:  # the database may be down at start: replayed with the next batch
            log.warning("could not replay spooled usage yet (%s)", type(exc).__name__)
        self._thread.start()

    def submit(self, record: UsageRecord) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self._closed:
            future.set_exception(RuntimeError("the usage writer is closed"))
        else:
            self._queue.put((record, future))
        return future

    async def write(self, record: UsageRecord) -> None:
        """Await the record's commit (or its safe landing in the spool file)."""
        await asyncio.wrap_future(self.submit(record))

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then stop."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout=timeout_s)

    # --- the writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._commit(batch)
                    return
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[tuple[UsageRecord, concurrent.futures.Future[None]]]) -> None:
        records = [record for record, _ in batch]
        error = self._write_with_retries(records)
        if error is not None:
            error = self._to_spool(records, error)
        for _, future in batch:
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _write_with_retries(self, records: list[UsageRecord]) -> Exception | None:
        last: Exception | None = None
        for delay in (0.0, *self._delays):
            time.sleep(delay)
            try:
                self._replay_spool()
                self._write(records)
                return None
            except Exception as exc:  # the database's own error types vary by backend
                last = exc
                log.warning("usage write failed (%s: %s); retrying", type(exc).__name__, exc)
        return last

    # --- the spool file ----------------------------------------------------------------------------

    def _to_spool(self, records: list[UsageRecord], error: Exception) -> Exception | None:
        if self._spool is None:
            log.error("usage lost: the database failed and there is no spool file (%s)", error)
            return error
        try:
            fd = os.open(self._spool, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                for record in records:
                    fh.write(json.dumps(record.__dict__, separators=(",", ":")) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            log.error("usage lost: database and spool file %s both failed (%s)", self._spool, exc)
            return exc
        log.error("database unavailable: %d usage records spooled to %s", len(records), self._spool)
        return None

    def _replay_spool(self) -> None:
        if self._spool is None or not self._spool.exists():
            return
        records = []
        for line in self._spool.read_text(encoding="utf-8").splitlines():
            try:
                records.append(UsageRecord(**json.loads(line)))
            except (ValueError, TypeError):  # a line cut short by a crash mid-append
                log.error("skipping an unreadable spooled usage line")
        self._write(records)  # raises: the spool stays for the next attempt
        self._spool.unlink()
        log.warning("replayed %d spooled usage records", len(records))
