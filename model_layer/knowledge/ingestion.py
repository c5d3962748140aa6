"""Ingestion jobs: scan a data source, plan, index and delete documents — resumable.

A job first scans its source and compares it with the document ledger, then writes its plan
(one ``kb_job_items`` row per document to index or delete) in one transaction. It then works
through the pending items in batches; an item is marked done in the same transaction that
updates the ledger, after its chunks are in the vector store. A runner holds a lease on its job
(``owner`` + ``heartbeat_at``); if it dies (``kill -9``), any replica's runner takes the job
over once the lease runs out and carries on from the pending items: a document that was
half-written is redone under the same chunk ids, so nothing is lost or duplicated.

StopIngestionJob marks the job STOPPING; deleting its KB or data source marks it STOPPED and
removes its rows. The runner sees either at its next heartbeat (every batch) and stops there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from model_layer.knowledge.indexing import Indexer, Prepared
from model_layer.knowledge.parsing import DocumentError, is_supported
from model_layer.knowledge.records import (
    JOB_COMPLETE,
    JOB_FAILED,
    JOB_IN_PROGRESS,
    JOB_STOPPED,
    JOB_STOPPING,
    DocumentRecord,
    IngestionJob,
    JobItem,
    now,
)
from model_layer.knowledge.sources import Source
from model_layer.knowledge.store import empty_statistics

log = logging.getLogger("strata.knowledge")


class JobStopped(Exception):
    """The job was stopped, or its KB / data source deleted, while it ran."""


def plan(listing: list[Any], ledger: dict[str, DocumentRecord]) -> tuple[list[JobItem], dict[str, int]]:
    """What to index and delete, from the source's listing and what is indexed now."""
    items: list[JobItem] = []
    stats = empty_statistics()
    stats["numberOfDocumentsScanned"] = len(listing)
    seen = set()
    for doc in listing:
        seen.add(doc.uri)
        if doc.metadata_hash:
            stats["numberOfMetadataDocumentsScanned"] += 1
        old = ledger.get(doc.uri)
        if old is None:
            kind = "new"
        elif old.status != "INDEXED" or old.content_hash != doc.content_hash:
            kind = "modified"
        elif old.metadata_hash != doc.metadata_hash:
            kind = "metadata"
        else:
            continue  # unchanged: nothing to do
        items.append(JobItem(doc.uri, "index", kind, doc.content_hash, doc.metadata_hash))
    for uri in sorted(set(ledger) - seen):
        items.append(JobItem(uri, "delete", "deleted", None, None))
    return items, stats


def statistics(base: dict[str, int], counts: dict[tuple[str, str], int]) -> dict[str, int]:
    stats = {**empty_statistics(), **base}
    stats["numberOfNewDocumentsIndexed"] = counts.get(("new", "done"), 0)
    stats["numberOfModifiedDocumentsIndexed"] = counts.get(("modified", "done"), 0)
    stats["numberOfMetadataDocumentsModified"] = counts.get(("metadata", "done"), 0)
    stats["numberOfDocumentsDeleted"] = counts.get(("deleted", "done"), 0)
    stats["numberOfDocumentsFailed"] = sum(n for (_, state), n in counts.items() if state == "failed")
    return stats


class JobRunner:
    """Runs a replica's share of ingestion jobs (claimed by lease) as asyncio tasks."""

    def __init__(self, knowledge: Any):
        self.k = knowledge
        self.owner = uuid.uuid4().hex
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._running: dict[str, str | None] = {}  # job id -> its status at the last heartbeat
        self._loop_task: asyncio.Task | None = None
        self._closed = False

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="kb-job-runner")

    def wake(self) -> None:
        self._wake.set()

    async def aclose(self) -> None:
        self._closed = True
        for task in [self._loop_task, *self._tasks]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*[t for t in [self._loop_task, *self._tasks] if t], return_exceptions=True)

    async def _loop(self) -> None:
        settings = self.k.settings
        while not self._closed:
            try:
                while len(self._tasks) < settings.max_concurrent_jobs:
                    running = list(self._running)
                    job = await asyncio.to_thread(
                        self.k.store.claim_job, self.owner, settings.job_lease_s, running
                    )
                    if job is None:
                        break
                    task = asyncio.create_task(self.run(job), name=f"kb-job-{job.ingestion_job_id}")
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
            except Exception:  # the state database may be briefly unavailable: try again later
                log.exception("could not claim ingestion jobs")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.2, settings.job_lease_s / 3))

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._wake.set()  # a slot is free

    async def _heartbeat(self, job: IngestionJob) -> None:
        """Renew the lease a few times per lease period, whatever the job is busy with."""
        interval = self.k.settings.job_lease_s / 3
        while True:
            try:
                status = await asyncio.to_thread(self.k.store.heartbeat, job.ingestion_job_id, self.owner)
            except Exception:  # a database blip: keep the last status, the lease has slack
                log.warning("heartbeat of ingestion job %s failed", job.ingestion_job_id)
            else:
                self._running[job.ingestion_job_id] = status
            await asyncio.sleep(interval)

    async def run(self, job: IngestionJob) -> None:
        store = self.k.store
        self._running[job.ingestion_job_id] = job.status
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            await self._ingest(job)
        except JobStopped:
            log.info("ingestion job %s stopped", job.ingestion_job_id)
            await asyncio.to_thread(self._finish, job, JOB_STOPPED)
        except asyncio.CancelledError:
            raise  # shutdown: the lease runs out and another runner resumes the job
        except Exception as exc:
            log.exception("ingestion job %s failed", job.ingestion_job_id)
            reason = getattr(exc, "message", None) or type(exc).__name__
            await asyncio.to_thread(
                store.set_job,
                job.ingestion_job_id,
                self.owner,
                status=JOB_FAILED,
                failure_reasons=[reason],
                owner=None,
            )
        finally:
            heartbeat.cancel()
            self._running.pop(job.ingestion_job_id, None)
            await asyncio.to_thread(self._drop_orphan, job)

    def _drop_orphan(self, job: IngestionJob) -> None:
        """A KB deleted mid-job may have had its collection recreated by a last write: drop it."""
        if self.k.store.any_kb(job.knowledge_base_id) is None:
            self.k.drop_collection(job.tenant_id, job.knowledge_base_id)

    def _check(self, job: IngestionJob) -> None:
        """Between documents: stop if the job was stopped, deleted or taken over (lease lost)."""
        status = self.k.store.heartbeat(job.ingestion_job_id, self.owner)
        self._running[job.ingestion_job_id] = status
        if status is None or status in (JOB_STOPPING, JOB_STOPPED):
            raise JobStopped()

    async def _ingest(self, job: IngestionJob) -> None:
        store, job_id = self.k.store, job.ingestion_job_id
        kb = await asyncio.to_thread(store.any_kb, job.knowledge_base_id)
        ds = await asyncio.to_thread(store.get_ds, job.tenant_id, job.knowledge_base_id, job.data_source_id)
        if kb is None or ds is None:
            raise JobStopped()
        await asyncio.to_thread(self._check, job)
        await asyncio.to_thread(store.set_job, job_id, self.owner, status=JOB_IN_PROGRESS)
        source = self.k.source_for(ds)
        if not job.planned:
            listing = await asyncio.to_thread(lambda: list(source.list()))
            ledger = await asyncio.to_thread(store.documents, ds.data_source_id)
            items, base = plan(listing, ledger)
            await asyncio.to_thread(store.write_plan, job_id, items, base)
            job.statistics = base
        indexer = Indexer(
            self.k.models, self.k.vectors, self.k.collection(kb), kb, ds, self.k.tenant_for(job)
        )
        pending = await asyncio.to_thread(store.pending_items, job_id)
        await self._work(job, indexer, source, pending)
        await asyncio.to_thread(self._finish, job, JOB_COMPLETE)

    async def _work(
        self, job: IngestionJob, indexer: Indexer, source: Source, pending: list[JobItem]
    ) -> None:
        batch: list[tuple[JobItem, Prepared]] = []
        size = 0
        for item in pending:
            if item.action == "delete":
                await asyncio.to_thread(self._delete, job, indexer, item)
                continue
            prepared = await self._prepare(job, indexer, source, item)
            if prepared is None:
                continue
            batch.append((item, prepared))
            size += len(prepared.chunks)
            if size >= self.k.settings.embed_batch:
                await self._write(job, indexer, batch)
                batch, size = [], 0
        if batch:
            await self._write(job, indexer, batch)

    async def _prepare(
        self, job: IngestionJob, indexer: Indexer, source: Source, item: JobItem
    ) -> Prepared | None:
        name = item.uri.rsplit("/", 1)[-1]
        try:
            if not is_supported(name):
                from model_layer.knowledge.parsing import parse

                parse(name, b"")  # raises the unsupported-type reason
            data = await asyncio.to_thread(source.read, item.uri)
            metadata = await asyncio.to_thread(source.read_metadata, item.uri) if item.metadata_hash else None
            return await indexer.prepare(item.uri, name, data, metadata, self.k.settings.max_file_bytes)
        except DocumentError as exc:
            item.state, item.reason = "failed", str(exc)
        except Exception as exc:  # a read that failed (S3 error, file gone): this document only
            if getattr(exc, "code", None) in ("ThrottlingException", "ServiceQuotaExceededException"):
                raise
            item.state, item.reason = "failed", f"The document could not be read ({type(exc).__name__})"
        doc = DocumentRecord(
            indexer.ds.data_source_id, item.uri, indexer.kb.knowledge_base_id, item.content_hash,
            item.metadata_hash, 0, "FAILED", item.reason, now(),
        )  # fmt: skip
        await asyncio.to_thread(self._forget_and_finish, job, indexer, item, doc)
        return None

    def _forget_and_finish(
        self, job: IngestionJob, indexer: Indexer, item: JobItem, doc: DocumentRecord
    ) -> None:
        self._check(job)
        indexer.forget(item.uri)  # a modified document that now fails leaves no stale chunks
        self.k.store.finish_item(job.ingestion_job_id, indexer.ds.data_source_id, item, doc, job.tenant_id)

    def _delete(self, job: IngestionJob, indexer: Indexer, item: JobItem) -> None:
        self._check(job)
        indexer.forget(item.uri)
        item.state = "done"
        self.k.store.finish_item(job.ingestion_job_id, indexer.ds.data_source_id, item, None, job.tenant_id)
        self.k.store.bump_index_version(indexer.kb.knowledge_base_id)

    async def _write(
        self, job: IngestionJob, indexer: Indexer, batch: list[tuple[JobItem, Prepared]]
    ) -> None:
        await asyncio.to_thread(self._check, job)
        await indexer.write([p for _, p in batch], self.k.settings.embed_batch)
        await asyncio.to_thread(self._record, job, indexer, batch)

    def _record(self, job: IngestionJob, indexer: Indexer, batch: list[tuple[JobItem, Prepared]]) -> None:
        store = self.k.store
        for item, prepared in batch:
            item.state = "done"
            doc = DocumentRecord(
                indexer.ds.data_source_id, item.uri, indexer.kb.knowledge_base_id, item.content_hash,
                item.metadata_hash, len(prepared.chunks), "INDEXED", None, now(),
            )  # fmt: skip
            store.finish_item(job.ingestion_job_id, indexer.ds.data_source_id, item, doc, job.tenant_id)
        store.bump_index_version(indexer.kb.knowledge_base_id)
        current = store.get_job(None, job.ingestion_job_id)
        if current is not None:
            counts = store.item_counts(job.ingestion_job_id)
            store.set_job(job.ingestion_job_id, self.owner, statistics=statistics(current.statistics, counts))

    def _finish(self, job: IngestionJob, status: str) -> None:
        store = self.k.store
        current = store.get_job(None, job.ingestion_job_id)
        if current is None:
            return  # its KB or data source was deleted
        counts = store.item_counts(job.ingestion_job_id)
        reasons = [f"{uri}: {reason}" for uri, reason in store.failed_items(job.ingestion_job_id)]
        # Only while this runner holds the job: a runner that lost its lease must not overwrite
        # the status the runner that took over will write.
        store.set_job(
            job.ingestion_job_id,
            self.owner,
            status=status,
            statistics=statistics(current.statistics, counts),
            failure_reasons=reasons or None,
            owner=None,
        )
