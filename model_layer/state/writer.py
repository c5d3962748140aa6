"""Usage writes off the event loop, batched, durable before the caller goes on, never lost.

:class:`UsageWriter` is a group commit run from the event loop: a caller hands it a record and
awaits its commit, so a response is only finished once its usage is in the database (``kill -9``
of the process loses no acknowledged usage). Records that arrive while a commit is running wait
for the next one, which takes them all in one transaction, in one worker thread: the per-request
cost is appending to a list and awaiting a future; the database and the thread hand-off are paid
per batch, which is what keeps metering cheap under load.

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
        self._pending: list[tuple[UsageRecord, asyncio.Future[None]]] = []  # touched by the loop only
        self._flushing: asyncio.Task[None] | None = None
        self._io = threading.Lock()  # one batch (and the spool file) at a time
        self._spooling = False  # the last batch went to the spool: the database is down
        try:
            with self._io:
                self._replay_spool()
        except Exception as exc:  # the database may be down at start: replayed with the next batch
            log.warning("could not replay spooled usage yet (%s)", type(exc).__name__)

    async def write(self, record: UsageRecord) -> None:
        """Await the record's commit (or its safe landing in the spool file)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((record, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = loop.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            error = await asyncio.to_thread(self.commit, [record for record, _ in batch])
            for _, future in batch:
                if future.done():  # its caller was cancelled; the record is written all the same
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    async def aclose(self) -> None:
        """Wait for what is queued to be written."""
        if self._flushing is not None:
            await self._flushing

    # --- blocking: the worker thread (or a caller with no event loop, such as a CLI) ---------------

    def commit(self, records: list[UsageRecord]) -> Exception | None:
        """Write ``records`` (retrying, else spooling); the error if neither worked."""
        with self._io:
            error = self._write_with_retries(records, () if self._spooling else self._delays)
            self._spooling = False
            if error is not None:
                error = self._to_spool(records, error)
                self._spooling = error is None
            return error

    def _write_with_retries(self, records: list[UsageRecord], delays: Sequence[float]) -> Exception | None:
        last: Exception | None = None
        for delay in (0.0, *delays):
            time.sleep(delay)
            try:
                self._replay_spool()
                self._write(records)
                return None
            except Exception as exc:  # the database's own error types vary by backend
                last = exc
                log.warning("usage write failed (%s: %s); retrying", type(exc).__name__, exc)
        return last

    def _to_spool(self, records: list[UsageRecord], error: Exception) -> Exception | None:
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
