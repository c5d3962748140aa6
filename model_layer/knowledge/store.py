"""Reads and writes of the knowledge subsystem's resources (:mod:`model_layer.knowledge.schema`):
knowledge bases, data sources, the document ledger, RetrieveAndGenerate sessions and tags; the
ingestion-job queue is :class:`~model_layer.knowledge.jobstore.JobStore`, which this extends.

Synchronous SQLAlchemy Core through ``Database.read()/write()``; the async callers run these
off the event loop. Every lookup filters on the tenant, so another tenant's id is not found.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from model_layer.errors import ConflictException
from model_layer.knowledge import schema as t
from model_layer.knowledge.jobstore import JobStore
from model_layer.knowledge.records import DataSource, DocumentRecord, KnowledgeBase, now
from model_layer.knowledge.rows import (
    doc_of,
    doc_row,
    ds_of,
    ds_row,
    dump_json,
    empty_statistics,
    kb_of,
    kb_row,
    load_json,
    page_of,
)

__all__ = ["KnowledgeStore", "empty_statistics"]


class KnowledgeStore(JobStore):
    # --- knowledge bases ------------------------------------------------------------------------

    def create_kb(self, kb: KnowledgeBase) -> None:
        try:
            with self.db.write() as conn:
                conn.execute(insert(t.knowledge_bases).values(kb_row(kb)))
        except IntegrityError:
            raise ConflictException(f"A knowledge base named {kb.name} already exists") from None

    def get_kb(self, tenant_id: str, kb_id: str) -> KnowledgeBase | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(t.knowledge_bases).where(
                    t.knowledge_bases.c.knowledge_base_id == kb_id, t.knowledge_bases.c.tenant_id == tenant_id
                )
            ).first()
        return kb_of(row) if row else None

    def any_kb(self, kb_id: str) -> KnowledgeBase | None:
        """Any tenant's KB (for the job runner, which acts for the KB's owner)."""
        with self.db.read() as conn:
            row = conn.execute(
                select(t.knowledge_bases).where(t.knowledge_bases.c.knowledge_base_id == kb_id)
            ).first()
        return kb_of(row) if row else None

    def list_kbs(self, tenant_id: str, offset: int, limit: int) -> tuple[list[KnowledgeBase], str | None]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.knowledge_bases)
                .where(t.knowledge_bases.c.tenant_id == tenant_id)
                .order_by(t.knowledge_bases.c.created_at, t.knowledge_bases.c.knowledge_base_id)
                .offset(offset)
                .limit(limit + 1)
            ).all()
        page, token = page_of(rows, offset, limit)
        return [kb_of(r) for r in page], token

    def update_kb(self, kb: KnowledgeBase) -> None:
        row = kb_row(kb)
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
            conn.execute(insert(t.data_sources).values(ds_row(ds)))

    def get_ds(self, tenant_id: str, kb_id: str, ds_id: str) -> DataSource | None:
        c = t.data_sources.c
        with self.db.read() as conn:
            row = conn.execute(
                select(t.data_sources).where(
                    c.data_source_id == ds_id, c.knowledge_base_id == kb_id, c.tenant_id == tenant_id
                )
            ).first()
        return ds_of(row) if row else None

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
        page, token = page_of(rows, offset, limit)
        return [ds_of(r) for r in page], token

    def update_ds(self, ds: DataSource) -> None:
        row = ds_row(ds)
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

    # --- documents ------------------------------------------------------------------------------

    def documents(self, ds_id: str) -> dict[str, DocumentRecord]:
        with self.db.read() as conn:
            rows = conn.execute(select(t.documents).where(t.documents.c.data_source_id == ds_id)).all()
        return {r.uri: doc_of(r) for r in rows}

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
        page, token = page_of(rows, offset, limit)
        return [doc_of(r) for r in page], token

    def put_document(self, doc: DocumentRecord, tenant_id: str) -> None:
        d = t.documents.c
        with self.db.write() as conn:
            conn.execute(delete(t.documents).where(d.data_source_id == doc.data_source_id, d.uri == doc.uri))
            conn.execute(insert(t.documents).values(doc_row(doc, tenant_id)))

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
        return load_json(row.turns) if row else None

    def put_session(self, tenant_id: str, session_id: str, turns: list[dict[str, str]]) -> None:
        s = t.sessions.c
        with self.db.write() as conn:
            conn.execute(delete(t.sessions).where(s.session_id == session_id, s.tenant_id == tenant_id))
            conn.execute(
                insert(t.sessions).values(
                    session_id=session_id, tenant_id=tenant_id, turns=dump_json(turns), updated_at=now()
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
