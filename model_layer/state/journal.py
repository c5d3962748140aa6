"""The usage journal: a response goes out once its usage is in a local file, not in the database.

Waiting for the database commit (a thread hand-off and a SQLite transaction) was the largest part
of what the gateway added to a call's latency (about 0.5–0.9 ms of 3–4 ms here). With a journal,
:class:`~model_layer.state.writer.UsageWriter` appends the record to this file with one
``write(2)`` on the event loop (a few microseconds: it lands in the kernel's page cache) and the
response goes on; the group commit to the database follows off the loop.

What survives what: a record in the page cache outlives the process, so ``kill -9`` loses no
acknowledged usage — the records a killed gateway had journalled but not committed are replayed
into the database when a gateway starts on the same home. That is the durability SQLite itself has
here (``synchronous=NORMAL``: a commit survives a killed process, an OS crash can lose the last
ones), which is why the journal is the default with SQLite state and opt-in with PostgreSQL (a
replica whose disk goes with it — a container — would take its journal along; there, waiting for
the commit is the default: ``[state] usage_ack``).

Exactly once: every entry carries its segment's id and a sequence number, and the database keeps,
in the same transaction as the usage rows, the highest sequence number committed per segment
(``usage_journal``); a replay skips what is already there. A segment is truncated once everything
in it is committed, and a new one is started when it grows past ``ROTATE_BYTES`` while commits lag.

Several processes may share one home: each holds an exclusive ``flock`` on its own segments, and a
replay takes only segments nobody holds (their process is gone; the kernel released the lock).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from model_layer.state.records import UsageRecord

log = logging.getLogger("strata.state.usage")

ROTATE_BYTES = 8 << 20
SUFFIX = ".usage.jsonl"


@dataclass(frozen=True)
class Mark:
    """Where a record is in the journal: its segment and its sequence number there."""

    journal_id: str
    seq: int


@dataclass
class _Segment:
    journal_id: str
    path: Path
    fd: int
    last_seq: int = 0
    size: int = 0


class UsageJournal:
    """This process's journal segments in ``directory`` (used from the event loop only)."""

    def __init__(self, directory: Path, *, rotate_bytes: int = ROTATE_BYTES):
        self.directory = directory
        self._rotate_bytes = rotate_bytes
        self._segments: list[_Segment] = []
        self._seq = 0
        self._settled = 0
        self._retired: list[str] = []  # ids of segments removed: their usage_journal rows can go

    def append(self, record: UsageRecord) -> Mark:
        """Journal ``record`` (raises OSError when the file cannot take it: the caller commits instead)."""
        segment = self._current()
        self._seq += 1
        line = json.dumps({"s": self._seq, "r": record.__dict__}, separators=(",", ":")) + "\n"
        data = line.encode()
        written = os.write(segment.fd, data)
        if written != len(data):  # a full disk: cut the line back off, so a replay never reads half
            os.ftruncate(segment.fd, segment.size)
            raise OSError(f"short write to the usage journal {segment.path}")
        segment.last_seq, segment.size = self._seq, segment.size + written
        return Mark(segment.journal_id, self._seq)

    def settled(self, through: int) -> None:
        """Every entry up to ``through`` is in the database (or the spool): drop what holds only those."""
        self._settled = max(self._settled, through)
        for segment in list(self._segments):
            if segment.last_seq > through:
                continue
            if segment is self._segments[-1]:
                if segment.size:
                    os.ftruncate(segment.fd, 0)
                segment.size = 0
            else:
                self._remove(segment)

    def close(self) -> None:
        """Remove the settled segments; one with entries never committed stays for the next start."""
        for segment in list(self._segments):
            if segment.last_seq <= self._settled:
                self._remove(segment)
            else:
                log.error("usage journal %s keeps uncommitted usage for a replay", segment.path)
                os.close(segment.fd)
                self._segments.remove(segment)

    def drain_retired(self) -> list[str]:
        retired, self._retired = self._retired, []
        return retired

    def _current(self) -> _Segment:
        if not self._segments or self._segments[-1].size >= self._rotate_bytes:
            self._segments.append(self._open())
        return self._segments[-1]

    def _open(self) -> _Segment:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        journal_id = f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        path = self.directory / f"{journal_id}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return _Segment(journal_id, path, fd)

    def _remove(self, segment: _Segment) -> None:
        segment.path.unlink(missing_ok=True)
        os.close(segment.fd)
        self._segments.remove(segment)
        self._retired.append(segment.journal_id)


@dataclass
class Orphan:
    """A segment whose process is gone, locked by us for its replay; ``release`` when done."""

    journal_id: str
    path: Path
    fd: int

    def entries(self) -> list[tuple[UsageRecord, Mark]]:
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    item = json.loads(line)
                    out.append((UsageRecord(**item["r"]), Mark(self.journal_id, int(item["s"]))))
                except (ValueError, TypeError, KeyError):  # a line cut short by a crash mid-append
                    log.error("skipping an unreadable usage journal line in %s", self.path)
        return out

    def release(self, *, remove: bool) -> None:
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)


def orphans(directory: Path) -> Iterator[Orphan]:
    """Segments in ``directory`` that no live process holds (each yielded locked, to be released)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # replayed by another process meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its gateway is running
            os.close(fd)
            continue
        if not path.exists():  # replayed and removed between our glob and our lock
            os.close(fd)
            continue
        yield Orphan(path.name.removesuffix(SUFFIX), path, fd)
