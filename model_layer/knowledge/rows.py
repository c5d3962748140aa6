"""Rows of the knowledge subsystem's tables (:mod:`model_layer.knowledge.schema`) to records and
back: JSON columns, the record dataclasses, and the offset pages the List operations return. Shared
by :mod:`model_layer.knowledge.store` and :mod:`model_layer.knowledge.jobstore`."""

from __future__ import annotations

import json
from typing import Any

from model_layer.knowledge.records import (
    STATISTICS_KEYS,
    DataSource,
    DocumentRecord,
    IngestionJob,
    KnowledgeBase,
)


def dump_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def load_json(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


def kb_of(row: Any) -> KnowledgeBase:
    return KnowledgeBase(
        row.knowledge_base_id, row.tenant_id, row.name, row.description, row.role_arn,
        load_json(row.configuration), load_json(row.storage), row.embedding_model_id, row.status,
        row.index_version, row.created_at, row.updated_at, load_json(row.failure_reasons, []),
    )  # fmt: skip


def ds_of(row: Any) -> DataSource:
    return DataSource(
        row.data_source_id, row.knowledge_base_id, row.tenant_id, row.name, row.description,
        load_json(row.configuration), load_json(row.ingestion), row.deletion_policy, row.status,
        row.created_at, row.updated_at,
    )  # fmt: skip


def job_of(row: Any) -> IngestionJob:
    return IngestionJob(
        row.ingestion_job_id, row.knowledge_base_id, row.data_source_id, row.tenant_id, row.key_id,
        row.description, row.status, load_json(row.statistics, {}), load_json(row.failure_reasons, []),
        bool(row.planned), row.started_at, row.updated_at,
    )  # fmt: skip


def doc_of(row: Any) -> DocumentRecord:
    return DocumentRecord(
        row.data_source_id, row.uri, row.knowledge_base_id, row.content_hash, row.metadata_hash,
        row.chunks, row.status, row.status_reason, row.updated_at,
    )  # fmt: skip


def page_of(rows: list[Any], offset: int, limit: int) -> tuple[list[Any], str | None]:
    more = len(rows) > limit
    return rows[:limit], (str(offset + limit) if more else None)


def empty_statistics() -> dict[str, int]:
    return dict.fromkeys(STATISTICS_KEYS, 0)


def kb_row(kb: KnowledgeBase) -> dict[str, Any]:
    return {
        "knowledge_base_id": kb.knowledge_base_id, "tenant_id": kb.tenant_id, "name": kb.name,
        "description": kb.description, "role_arn": kb.role_arn, "configuration": dump_json(kb.configuration),
        "storage": dump_json(kb.storage), "embedding_model_id": kb.embedding_model_id, "status": kb.status,
        "failure_reasons": dump_json(kb.failure_reasons or None), "index_version": kb.index_version,
        "created_at": kb.created_at, "updated_at": kb.updated_at,
    }  # fmt: skip


def ds_row(ds: DataSource) -> dict[str, Any]:
    return {
        "data_source_id": ds.data_source_id, "knowledge_base_id": ds.knowledge_base_id,
        "tenant_id": ds.tenant_id, "name": ds.name, "description": ds.description,
        "configuration": dump_json(ds.configuration), "ingestion": dump_json(ds.ingestion),
        "deletion_policy": ds.deletion_policy, "status": ds.status, "created_at": ds.created_at,
        "updated_at": ds.updated_at,
    }  # fmt: skip


def doc_row(doc: DocumentRecord, tenant_id: str) -> dict[str, Any]:
    return {
        "data_source_id": doc.data_source_id, "uri": doc.uri, "knowledge_base_id": doc.knowledge_base_id,
        "tenant_id": tenant_id, "content_hash": doc.content_hash, "metadata_hash": doc.metadata_hash,
        "chunks": doc.chunks, "status": doc.status, "status_reason": doc.status_reason,
        "updated_at": doc.updated_at,
    }  # fmt: skip
