"""Reads and writes of the knowledge subsystem's state (:mod:`model_layer.knowledge.schema`).

Synchronous SQLAlchemy Core through ``Database.read()/write()``; the async callers run these
off the event loop. Every lookup filters on the tenant, so another tenant's id is not found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from model_layer.errors import ConflictException
from model_layer.knowledge import schema as t
from model_layer.knowledge.records import (
    JOB_STARTING,
    RUNNING_JOB_STATUSES,
    STATISTICS_KEYS,
    DataSource,
    DocumentRecord,
    IngestionJob,
    JobItem,
    KnowledgeBase,
    now,
)
from model_layer.state.database import Database


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _load(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


def _kb(row: Any) -> KnowledgeBase:
    return KnowledgeBase(
        row.knowledge_base_id, row.tenant_id, row.name, row.description, row.role_arn,
        _load(row.configuration), _load(row.storage), row.embedding_model_id, row.status,
        row.index_version, row.created_at, row.updated_at, _load(row.failure_reasons, []),
    )  # fmt: skip


def _ds(row: Any) -> DataSource:
    return DataSource(
        row.data_source_id, row.knowledge_base_id, row.tenant_id, row.name, row.description,
        _load(row.configuration), _load(row.ingestion), row.deletion_policy, row.status,
        row.created_at, row.updated_at,
    )  # fmt: skip


def _job(row: Any) -> IngestionJob:
    return IngestionJob(
        row.ingestion_job_id, row.knowledge_base_id, row.data_source_id, row.tenant_id, row.key_id,
        row.description, row.status, _load(row.statistics, {}), _load(row.failure_reasons, []),
        bool(row.planned), row.started_at, row.updated_at,
    )  # fmt: skip


def _doc(row: Any) -> DocumentRecord:
    return DocumentRecord(
        row.data_source_id, row.uri, row.knowledge_base_id, row.content_hash, row.metadata_hash,
        row.chunks, row.status, row.status_reason, row.updated_at,
    )  # fmt: skip


def _page(rows: list[Any], offset: int, limit: int) -> tuple[list[Any], str | None]:
    more = len(rows) > limit
    return rows[:limit], (str(offset + limit) if more else None)


class KnowledgeStore:
    def __init__(self, db: Database):
        self.db = db

    # --- knowledge bases ------------------------------------------------------------------------

    def create_kb(self, kb: KnowledgeBase) -> None:
        try:
            with self.db.write() as conn:
                conn.execute(insert(t.knowledge_bases).values(_kb_row(kb)))
        except IntegrityError:
            raise ConflictException(f"A knowledge base named {kb.name} already exists") from None

    def get_kb(self, tenant_id: str, kb_id: str) -> KnowledgeBase | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(t.knowledge_bases).where(
                    t.knowledge_bases.c.knowledge_base_id == kb_id, t.knowledge_bases.c.tenant_id == tenant_id
                )
            ).first()
        return _kb(row) if row else None

    def any_kb(self, kb_id: str) -> KnowledgeBase | None:
        """Any tenant's KB (for the job runner, which acts for the KB's owner)."""
        with self.db.read() as conn:
            row = conn.execute(
                select(t.knowledge_bases).where(t.knowledge_bases.c.knowledge_base_id == kb_id)
            ).first()
        return _kb(row) if row else None

    def list_kbs(self, tenant_id: str, offset: int, limit: int) -> tuple[list[KnowledgeBase], str | None]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.knowledge_bases)
                .where(t.knowledge_bases.c.tenant_id == tenant_id)
                .order_by(t.knowledge_bases.c.created_at, t.knowledge_bases.c.knowledge_base_id)
                .offset(offset)
                .limit(limit + 1)
            ).all()
        page, token = _page(rows, offset, limit)
        return [_kb(r) for r in page], token

    def update_kb(self, kb: KnowledgeBase) -> None:
        row = _kb_row(kb)
        try:
            with self.db.write() as conn:
                conn.execute(
                    update(t.knowledge_bases)
                    .where(t.knowledge_bases.c.knowledge_base_id == kb.knowledge_base_id)
                    .values({k: v for k, v in row.items() if k not in ("knowledge_base_id", "index_version")})
                )
        except IntegrityError:
            raise ConflictException(f"A knowledge base named {kb.name} already exists") from None

    def bump_index_version(self, kb_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(t.knowledge_bases)
                .where(t.knowledge_bases.c.knowledge_base_id == kb_id)
                .values(index_version=t.knowledge_bases.c.index_version + 1)
            )

    def index_version(self, kb_id: str) -> int:
        with self.db.read() as conn:
            return (
                conn.execute(
                    select(t.knowledge_bases.c.index_version).where(
                        t.knowledge_bases.c.knowledge_base_id == kb_id
                    )
                ).scalar()
                or 0
            )

    def delete_kb(self, kb_id: str) -> None:
        """The KB and everything under it; its running jobs are marked STOPPED first by the caller."""
        with self.db.write() as conn:
            jobs = select(t.ingestion_jobs.c.ingestion_job_id).where(
                t.ingestion_jobs.c.knowledge_base_id == kb_id
            )
            conn.execute(delete(t.job_items).where(t.job_items.c.ingestion_job_id.in_(jobs)))
            for table in (t.ingestion_jobs, t.documents, t.data_sources, t.knowledge_bases):
                conn.execute(delete(table).where(table.c.knowledge_base_id == kb_id))

    def set_kb_status(self, kb_id: str, status: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(t.knowledge_bases)
                .where(t.knowledge_bases.c.knowledge_base_id == kb_id)
                .values(status=status, updated_at=now())
            )

    # --- data sources ---------------------------------------------------------------------------

    def create_ds(self, ds: DataSource) -> None:
        with self.db.write() as conn:
            conn.execute(insert(t.data_sources).values(_ds_row(ds)))

    def get_ds(self, tenant_id: str, kb_id: str, ds_id: str) -> DataSource | None:
        c = t.data_sources.c
        with self.db.read() as conn:
            row = conn.execute(
                select(t.data_sources).where(
                    c.data_source_id == ds_id, c.knowledge_base_id == kb_id, c.tenant_id == tenant_id
                )
            ).first()
        return _ds(row) if row else None

    def list_ds(
        self, tenant_id: str, kb_id: str, offset: int, limit: int
    ) -> tuple[list[DataSource], str | None]:
        c = t.data_sources.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.data_sources)
                .where(c.knowledge_base_id == kb_id, c.tenant_id == tenant_id)
                .order_by(c.created_at, c.data_source_id)
                .offset(offset)
                .limit(limit + 1)
            ).all()
        page, token = _page(rows, offset, limit)
        return [_ds(r) for r in page], token

    def update_ds(self, ds: DataSource) -> None:
        row = _ds_row(ds)
        with self.db.write() as conn:
            conn.execute(
                update(t.data_sources).where(t.data_sources.c.data_source_id == ds.data_source_id).values(row)
            )

    def delete_ds(self, ds_id: str) -> None:
        with self.db.write() as conn:
            jobs = select(t.ingestion_jobs.c.ingestion_job_id).where(
                t.ingestion_jobs.c.data_source_id == ds_id
            )
            conn.execute(delete(t.job_items).where(t.job_items.c.ingestion_job_id.in_(jobs)))
            for table in (t.ingestion_jobs, t.documents, t.data_sources):
                conn.execute(delete(table).where(table.c.data_source_id == ds_id))

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
                    statistics=_dump(job.statistics),
                    failure_reasons=_dump(job.failure_reasons),
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
        return _job(row) if row else None

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
        page, token = _page(rows, offset, limit)
        return [_job(r) for r in page], token

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
        return _job(row) if taken else None

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
            values["statistics"] = _dump(values["statistics"])
        if "failure_reasons" in values:
            values["failure_reasons"] = _dump(values["failure_reasons"])
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
                .values(planned=1, statistics=_dump(statistics), updated_at=now())
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
                conn.execute(insert(t.documents).values(_doc_row(doc, tenant_id)))

    # --- documents ------------------------------------------------------------------------------

    def documents(self, ds_id: str) -> dict[str, DocumentRecord]:
        with self.db.read() as conn:
            rows = conn.execute(select(t.documents).where(t.documents.c.data_source_id == ds_id)).all()
        return {r.uri: _doc(r) for r in rows}

    def list_documents(self, ds_id: str, offset: int, limit: int) -> tuple[list[DocumentRecord], str | None]:
        d = t.documents.c
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.documents)
                .where(d.data_source_id == ds_id)
                .order_by(d.uri)
                .offset(offset)
                .limit(limit + 1)
            ).all()
        page, token = _page(rows, offset, limit)
        return [_doc(r) for r in page], token

    def put_document(self, doc: DocumentRecord, tenant_id: str) -> None:
        d = t.documents.c
        with self.db.write() as conn:
            conn.execute(delete(t.documents).where(d.data_source_id == doc.data_source_id, d.uri == doc.uri))
            conn.execute(insert(t.documents).values(_doc_row(doc, tenant_id)))

    def delete_document(self, ds_id: str, uri: str) -> None:
        d = t.documents.c
        with self.db.write() as conn:
            conn.execute(delete(t.documents).where(d.data_source_id == ds_id, d.uri == uri))

    # --- RetrieveAndGenerate sessions -----------------------------------------------------------

    def get_session(self, tenant_id: str, session_id: str) -> list[dict[str, str]] | None:
        s = t.sessions.c
        with self.db.read() as conn:
            row = conn.execute(
                select(s.turns).where(s.session_id == session_id, s.tenant_id == tenant_id)
            ).first()
        return _load(row.turns) if row else None

    def put_session(self, tenant_id: str, session_id: str, turns: list[dict[str, str]]) -> None:
        s = t.sessions.c
        with self.db.write() as conn:
            conn.execute(delete(t.sessions).where(s.session_id == session_id, s.tenant_id == tenant_id))
            conn.execute(
                insert(t.sessions).values(
                    session_id=session_id, tenant_id=tenant_id, turns=_dump(turns), updated_at=now()
                )
            )

    # --- tags -----------------------------------------------------------------------------------

    def tags(self, resource_arn: str) -> dict[str, str]:
        c = t.resource_tags.c
        with self.db.read() as conn:
            rows = conn.execute(select(c.tag_key, c.tag_value).where(c.resource_arn == resource_arn)).all()
        return {k: v for k, v in rows}

    def tag(self, tenant_id: str, resource_arn: str, tags: dict[str, str]) -> None:
        c = t.resource_tags.c
        with self.db.write() as conn:
            for key, value in tags.items():
                conn.execute(
                    delete(t.resource_tags).where(and_(c.resource_arn == resource_arn, c.tag_key == key))
                )
                conn.execute(
                    insert(t.resource_tags).values(
                        resource_arn=resource_arn, tag_key=key, tenant_id=tenant_id, tag_value=value
                    )
                )

    def untag(self, resource_arn: str, keys: Iterable[str] | None = None) -> None:
        c = t.resource_tags.c
        query = delete(t.resource_tags).where(c.resource_arn == resource_arn)
        if keys is not None:
            query = query.where(c.tag_key.in_(list(keys)))
        with self.db.write() as conn:
            conn.execute(query)


def empty_statistics() -> dict[str, int]:
    return dict.fromkeys(STATISTICS_KEYS, 0)


def _kb_row(kb: KnowledgeBase) -> dict[str, Any]:
    return {
        "knowledge_base_id": kb.knowledge_base_id, "tenant_id": kb.tenant_id, "name": kb.name,
        "description": kb.description, "role_arn": kb.role_arn, "configuration": _dump(kb.configuration),
        "storage": _dump(kb.storage), "embedding_model_id": kb.embedding_model_id, "status": kb.status,
        "failure_reasons": _dump(kb.failure_reasons or None), "index_version": kb.index_version,
        "created_at": kb.created_at, "updated_at": kb.updated_at,
    }  # fmt: skip


def _ds_row(ds: DataSource) -> dict[str, Any]:
    return {
        "data_source_id": ds.data_source_id, "knowledge_base_id": ds.knowledge_base_id,
        "tenant_id": ds.tenant_id, "name": ds.name, "description": ds.description,
        "configuration": _dump(ds.configuration), "ingestion": _dump(ds.ingestion),
        "deletion_policy": ds.deletion_policy, "status": ds.status, "created_at": ds.created_at,
        "updated_at": ds.updated_at,
    }  # fmt: skip


def _doc_row(doc: DocumentRecord, tenant_id: str) -> dict[str, Any]:
    return {
        "data_source_id": doc.data_source_id, "uri": doc.uri, "knowledge_base_id": doc.knowledge_base_id,
        "tenant_id": tenant_id, "content_hash": doc.content_hash, "metadata_hash": doc.metadata_hash,
        "chunks": doc.chunks, "status": doc.status, "status_reason": doc.status_reason,
        "updated_at": doc.updated_at,
    }  # fmt: skip
