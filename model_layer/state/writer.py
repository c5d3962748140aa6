"""Usage writes off the event loop, batched, durable before the caller goes on, never lost.

:class:`UsageWriter` is a group commit run from the event loop: a caller hands it a record and
awaits its commit, so a response is only finished once its usage is in the database (``kill -9``
of the process loses no acknowledged usage). With a :class:`~model_layer.state.journal.UsageJournal`
the caller awaits only the record's append to the local journal (one ``write(2)``, which a killed
process cannot undo) and the commit follows; journal entries the database has are dropped, and
those of a process that died are replayed exactly once when the next writer starts on the home.

Records that arrive while a commit is running wait for the next one, which takes them all in one
transaction, in one worker thread: the per-request cost is appending to a list and awaiting a
future; the database and the thread hand-off are paid per batch, which keeps metering cheap under
load.

If the database fails (a PostgreSQL restart, a locked SQLite file), the batch is retried with
backoff for a few seconds; if it still fails, the records are appended (and fsynced) to a spool
file beside the state — still an acknowledged, durable write — and replayed before the next batch
that succeeds, or at the next start. While the database is known to be down (the last batch went
to the spool), a batch gets one attempt before the spool, so answers do not each wait out the
retries for as long as the outage lasts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from model_layer.state.journal import Mark, Orphan, UsageJournal, orphans
from model_layer.state.records import UsageRecord

log = logging.getLogger("strata.state.usage")

MAX_BATCH = 512
# With a journal, a commit waits this long for company: at low concurrency a thread hand-off and a
# transaction per call cost the event loop more (GIL hand-overs) than the commit is worth sooner.
JOURNAL_COMMIT_DELAY_S = 0.05
RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)

WriteBatch = Callable[[Sequence[UsageRecord], Sequence[Mark | None]], None]
Forget = Callable[[Sequence[str]], None]
_Entry = tuple[UsageRecord, Mark | None, "asyncio.Future[None] | None"]


class UsageWriter:
    def __init__(
        self,
        write_batch: WriteBatch,
        spool: Path | None = None,
        *,
        journal: UsageJournal | None = None,
        forget: Forget | None = None,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    ):
        self._write = write_batch
        self._spool = spool
        self._journal = journal
        self._forget = forget  # drops the progress rows of journal segments that are gone
        self._delays = tuple(retry_delays_s)
        self._pending: list[_Entry] = []  # touched by the loop only
        self._flushing: asyncio.Task[None] | None = None
        self._io = threading.Lock()  # one batch (and the spool file) at a time
        self._spooling = False  # the last batch went to the spool: the database is down
        self._orphans = journal is not None  # dead processes' journals may wait for a replay
        self._outstanding = 0  # records handed over and not yet committed (or spooled, or failed)
        self._settle = threading.Condition()
        try:
            with self._io:
                self._replay_files()
        except Exception as exc:  # the database may be down at start: replayed with the next batch
            log.warning("could not replay spooled or journalled usage yet (%s)", type(exc).__name__)

    async def write(self, record: UsageRecord) -> None:
        """Await the record's journal append, else its commit (or its safe landing in the spool)."""
        loop = asyncio.get_running_loop()
        mark = self._append(record)
        future: asyncio.Future[None] | None = None if mark else loop.create_future()
        with self._settle:
            self._outstanding += 1
        self._pending.append((record, mark, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = loop.create_task(self._flush())
        if future is not None:
            await future

    def _append(self, record: UsageRecord) -> Mark | None:
        if self._journal is None:
            return None
        try:
            return self._journal.append(record)
        except OSError as exc:  # a full disk: this record waits for its commit instead
            log.warning("usage journal append failed (%s); waiting for the commit", exc)
            return None

    async def _flush(self) -> None:
        if self._journal is not None and len(self._pending) < MAX_BATCH:
            await asyncio.sleep(JOURNAL_COMMIT_DELAY_S)
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            retired = self._journal.drain_retired() if self._journal is not None else []
            records, marks = [r for r, _, _ in batch], [m for _, m, _ in batch]
            error = await asyncio.to_thread(self.commit, records, marks, retired)
            if error is None and self._journal is not None:
                self._journal.settled(max((m.seq for m in marks if m is not None), default=0))
            with self._settle:
                self._outstanding -= len(batch)
                self._settle.notify_all()
            for _, _, future in batch:
                if future is None or future.done():  # journalled, or its caller was cancelled
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    async def flushed(self) -> None:
        """Wait until every record handed over so far is committed: a reader in this process then
        sees its own calls' usage (a journalled record's commit follows its response)."""
        while self._flushing is not None and not self._flushing.done():
            await asyncio.shield(self._flushing)

    def wait_committed(self, timeout_s: float) -> bool:
        """:meth:`flushed` for a thread other than the event loop's (tests, a CLI beside a server)."""
        with self._settle:
            return self._settle.wait_for(lambda: self._outstanding <= 0, timeout_s)

    async def aclose(self) -> None:
        """Wait for what is queued to be written; remove this process's settled journal segments."""
        if self._flushing is not None:
            await self._flushing
        if self._journal is not None:
            self._journal.close()
            retired = self._journal.drain_retired()
            if retired and self._forget is not None:
                try:
                    await asyncio.to_thread(self._forget, retired)
                except Exception as exc:  # harmless leftovers: rows of segments that no longer exist
                    log.warning("could not drop usage journal progress rows (%s)", type(exc).__name__)

    # --- blocking: the worker thread (or a caller with no event loop, such as a CLI) ---------------

    def commit(
        self,
        records: list[UsageRecord],
        marks: Sequence[Mark | None] | None = None,
        retired: Sequence[str] = (),
    ) -> Exception | None:
        """Write ``records`` (retrying, else spooling); the error if neither worked."""
        marks = list(marks) if marks is not None else [None] * len(records)
        with self._io:
            error = self._write_with_retries(records, marks, () if self._spooling else self._delays)
            self._spooling = False
            if error is not None:
                error = self._to_spool(records, marks, error)
                self._spooling = error is None
            elif retired and self._forget is not None:
                try:
                    self._forget(retired)
                except Exception as exc:  # harmless leftovers, dropped at the next clean stop
                    log.warning("could not drop usage journal progress rows (%s)", type(exc).__name__)
            return error

    def _write_with_retries(
        self, records: list[UsageRecord], marks: list[Mark | None], delays: Sequence[float]
    ) -> Exception | None:
        last: Exception | None = None
        for delay in (0.0, *delays):
            time.sleep(delay)
            try:
                self._replay_files()
                self._write(records, marks)
                return None
            except Exception as exc:  # the database's own error types vary by backend
                last = exc
                log.warning("usage write failed (%s: %s); retrying", type(exc).__name__, exc)
        return last

    def _to_spool(
        self, records: list[UsageRecord], marks: list[Mark | None], error: Exception
    ) -> Exception | None:
        if self._spool is None:
            log.error("usage lost: the database failed and there is no spool file (%s)", error)
            return error
        try:
            fd = os.open(self._spool, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            size = os.fstat(fd).st_size
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                # A crash mid-append can leave a last line without its newline: begin a new line, or
                # the first record here would be glued to it and skipped, unreadable, at the replay.
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    fh.write("\n")
                for record, mark in zip(records, marks, strict=True):
                    line = record.__dict__ | ({"_journal": [mark.journal_id, mark.seq]} if mark else {})
                    fh.write(json.dumps(line, separators=(",", ":")) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            log.error("usage lost: database and spool file %s both failed (%s)", self._spool, exc)
            return exc
        log.error("database unavailable: %d usage records spooled to %s", len(records), self._spool)
        return None

    def _replay_files(self) -> None:
        """The spool, then the journals of processes that died (raises: they stay for the next try)."""
        self._replay_spool()
        if self._orphans and self._journal is not None:
            for orphan in orphans(self._journal.directory):
                self._replay_orphan(orphan)
            self._orphans = False

    def _replay_spool(self) -> None:
        if self._spool is None or not self._spool.exists():
            return
        records, marks = [], []
        for line in self._spool.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
                journal = item.pop("_journal", None)
                records.append(UsageRecord(**item))
                marks.append(Mark(journal[0], int(journal[1])) if journal else None)
            except (ValueError, TypeError, IndexError):  # a line cut short by a crash mid-append
                log.error("skipping an unreadable spooled usage line")
        self._write(records, marks)  # raises: the spool stays for the next attempt
        self._spool.unlink()
        log.warning("replayed %d spooled usage records", len(records))

    def _replay_orphan(self, orphan: Orphan) -> None:
        try:
            entries = orphan.entries()
            if entries:
                self._write([r for r, _ in entries], [m for _, m in entries])
        except BaseException:
            orphan.release(remove=False)
            raise
        orphan.release(remove=True)
        if self._forget is not None:
            self._forget([orphan.journal_id])
        if entries:  # an emptied (truncated) segment of a stopped process holds nothing to say
            log.warning("replayed %d usage records journalled by a stopped gateway", len(entries))
