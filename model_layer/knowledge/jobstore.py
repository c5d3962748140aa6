"""The ingestion-job queue's state: jobs (one running per data source), their runners' leases and
heartbeats, stop requests, and each job's plan of items — written in one transaction with the
document ledger, so a runner killed mid-job resumes from exactly the items not yet done.

Synchronous SQLAlchemy Core through ``Database.read()/write()``; the async callers run these off
the event loop. :class:`~model_layer.knowledge.store.KnowledgeStore` extends it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from model_layer.errors import ConflictException
from model_layer.knowledge import schema as t
from model_layer.knowledge.records import (
    JOB_STARTING,
    RUNNING_JOB_STATUSES,
    DocumentRecord,
    IngestionJob,
    JobItem,
    now,
)
from model_layer.knowledge.rows import doc_row, dump_json, job_of, page_of
from model_layer.state.database import Database


class JobStore:
    def __init__(self, db: Database):
        self.db = db

    # --- ingestion jobs -------------------------------------------------------------------------

    def create_job(self, job: IngestionJob) -> None:
        """Insert a job, unless one is already running on its data source (ConflictException)."""
        c = t.ingestion_jobs.c
        with self.db.write() as conn:
            running = conn.execute(
                select(c.ingestion_job_id).where(
                    c.data_source_id == job.data_source_id, c.status.in_(RUNNING_JOB_STATUSES)
                )
            ).first()
            if running:
                raise ConflictException(
                    f"An ingestion job ({running[0]}) is already running on data source {job.data_source_id}"
                )
            conn.execute(
                insert(t.ingestion_jobs).values(
                    ingestion_job_id=job.ingestion_job_id,
                    knowledge_base_id=job.knowledge_base_id,
                    data_source_id=job.data_source_id,
                    tenant_id=job.tenant_id,
                    key_id=job.key_id,
                    description=job.description,
                    status=job.status,
                    statistics=dump_json(job.statistics),
                    failure_reasons=dump_json(job.failure_reasons),
                    planned=0,
                    owner=None,
                    heartbeat_at=None,
                    started_at=job.started_at,
                    updated_at=job.updated_at,
                )
            )

    def get_job(self, tenant_id: str | None, job_id: str) -> IngestionJob | None:
        c = t.ingestion_jobs.c
        where = [c.ingestion_job_id == job_id]
        if tenant_id is not None:
            where.append(c.tenant_id == tenant_id)
        with self.db.read() as conn:
            row = conn.execute(select(t.ingestion_jobs).where(*where)).first()
        return job_of(row) if row else None

    def list_jobs(
        self, tenant_id: str, ds_id: str, statuses: list[str] | None, ascending: bool, offset: int, limit: int
    ) -> tuple[list[IngestionJob], str | None]:
        c = t.ingestion_jobs.c
        query = select(t.ingestion_jobs).where(c.data_source_id == ds_id, c.tenant_id == tenant_id)
        if statuses:
            query = query.where(c.status.in_(statuses))
        order = c.started_at.asc() if ascending else c.started_at.desc()
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(order).offset(offset).limit(limit + 1)).all()
        page, token = page_of(rows, offset, limit)
        return [job_of(r) for r in page], token

    def claim_job(self, owner: str, lease_s: float, running: Iterable[str] = ()) -> IngestionJob | None:
        """Take one runnable job: not started by anyone, or whose runner's lease ran out (never
        one of ``running``, the jobs this runner is already working on)."""
        c = t.ingestion_jobs.c
        cutoff = now() - lease_s
        with self.db.write() as conn:
            row = conn.execute(
                select(t.ingestion_jobs)
                .where(
                    c.status.in_(RUNNING_JOB_STATUSES),
                    or_(c.owner.is_(None), c.heartbeat_at < cutoff),
                    c.ingestion_job_id.not_in(list(running)),
                )
                .order_by(c.started_at)
                .limit(1)
            ).first()
            if row is None:
                return None
            taken = conn.execute(
                update(t.ingestion_jobs)
                .where(
                    c.ingestion_job_id == row.ingestion_job_id,
                    or_(c.owner.is_(None), c.heartbeat_at < cutoff),
                )
                .values(owner=owner, heartbeat_at=now())
            ).rowcount
        return job_of(row) if taken else None

    def heartbeat(self, job_id: str, owner: str) -> str | None:
        """Renew the lease; returns the job's status (None if the job is gone or someone else owns it)."""
        c = t.ingestion_jobs.c
        with self.db.write() as conn:
            done = conn.execute(
                update(t.ingestion_jobs)
                .where(c.ingestion_job_id == job_id, c.owner == owner)
                .values(heartbeat_at=now())
            ).rowcount
            if not done:
                return None
            return conn.execute(select(c.status).where(c.ingestion_job_id == job_id)).scalar()

    def set_job(self, job_id: str, held_by: str | None = None, **values: Any) -> bool:
        """Update a job (only while ``held_by`` owns it, if given); False if nothing was updated."""
        if "statistics" in values:
            values["statistics"] = dump_json(values["statistics"])
        if "failure_reasons" in values:
            values["failure_reasons"] = dump_json(values["failure_reasons"])
        values["updated_at"] = now()
        c = t.ingestion_jobs.c
        query = update(t.ingestion_jobs).where(c.ingestion_job_id == job_id)
        if held_by is not None:
            query = query.where(c.owner == held_by)
        with self.db.write() as conn:
            return conn.execute(query.values(**values)).rowcount > 0

    def request_stop(self, job_id: str) -> None:
        c = t.ingestion_jobs.c
        with self.db.write() as conn:
            conn.execute(
                update(t.ingestion_jobs)
                .where(c.ingestion_job_id == job_id, c.status.in_((JOB_STARTING, "IN_PROGRESS")))
                .values(status="STOPPING", updated_at=now())
            )

    def stop_jobs_of(self, column: str, value: str) -> None:
        """Mark every running job of a KB or data source STOPPED (the KB or source is going away)."""
        c = t.ingestion_jobs.c
        with self.db.write() as conn:
            conn.execute(
                update(t.ingestion_jobs)
                .where(c[column] == value, c.status.in_(RUNNING_JOB_STATUSES))
                .values(status="STOPPED", updated_at=now())
            )

    # --- job items (the plan) -------------------------------------------------------------------

    def write_plan(self, job_id: str, items: Iterable[JobItem], statistics: dict[str, int]) -> None:
        """Record the scan's plan and statistics in one transaction, so a resume sees all or none."""
        rows = [
            {
                "ingestion_job_id": job_id,
                "uri": i.uri,
                "action": i.action,
                "kind": i.kind,
                "content_hash": i.content_hash,
                "metadata_hash": i.metadata_hash,
                "state": "pending",
                "reason": None,
            }
            for i in items
        ]
        with self.db.write() as conn:
            conn.execute(delete(t.job_items).where(t.job_items.c.ingestion_job_id == job_id))
            if rows:
                conn.execute(insert(t.job_items), rows)
            conn.execute(
                update(t.ingestion_jobs)
                .where(t.ingestion_jobs.c.ingestion_job_id == job_id)
                .values(planned=1, statistics=dump_json(statistics), updated_at=now())
            )

    def pending_items(self, job_id: str) -> list[JobItem]:
        c = t.job_items.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.job_items).where(c.ingestion_job_id == job_id, c.state == "pending").order_by(c.uri)
            ).all()
        return [
            JobItem(r.uri, r.action, r.kind, r.content_hash, r.metadata_hash, r.state, r.reason) for r in rows
        ]

    def item_counts(self, job_id: str) -> dict[tuple[str, str], int]:
        """``{(kind, state): n}`` over the job's items, for its statistics."""
        c = t.job_items.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(c.kind, c.state, func.count())
                .where(c.ingestion_job_id == job_id)
                .group_by(c.kind, c.state)
            ).all()
        return {(kind, state): n for kind, state, n in rows}

    def failed_items(self, job_id: str, limit: int = 50) -> list[tuple[str, str]]:
        c = t.job_items.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(c.uri, c.reason).where(c.ingestion_job_id == job_id, c.state == "failed").limit(limit)
            ).all()
        return [(r.uri, r.reason or "") for r in rows]

    def finish_item(
        self, job_id: str, ds_id: str, item: JobItem, doc: DocumentRecord | None, tenant_id: str
    ) -> None:
        """Mark an item done or failed and update the document ledger in the same transaction
        (``doc`` replaces the ledger entry; None removes it)."""
        c, d = t.job_items.c, t.documents.c
        with self.db.write() as conn:
            conn.execute(
                update(t.job_items)
                .where(c.ingestion_job_id == job_id, c.uri == item.uri)
                .values(state=item.state, reason=item.reason)
            )
            conn.execute(delete(t.documents).where(d.data_source_id == ds_id, d.uri == item.uri))
            if doc is not None:
                conn.execute(insert(t.documents).values(doc_row(doc, tenant_id)))
