"""Knowledge-base state: knowledge bases, data sources, ingestion jobs and their items, the document
ledger, RetrieveAndGenerate sessions, and resource tags (shared with agents), on the shared metadata.

Migrated on the ``knowledge`` Alembic branch (``migrations/versions/kb0001_*``). Every row carries
its ``tenant_id``; lookups always filter on it, so another tenant's id reads as not found.

- ``kb_knowledge_bases`` / ``kb_data_sources``: the control-plane resources, their AWS-shaped
  configurations kept as JSON documents; ``index_version`` changes whenever a KB's chunks change
  (replicas rebuild their lexical index when it moves);
- ``kb_ingestion_jobs``: a job's status and statistics, plus the lease (``owner`` and
  ``heartbeat_at``) that lets a replica take over a job whose runner died;
- ``kb_job_items``: the plan a job made when it scanned its source: one row per document to index
  or delete, marked done as it goes, so a resumed job redoes only what is not done;
- ``kb_documents``: what is indexed per data source (content hash, chunk count, status) — what
  re-ingestion compares against and what the document APIs report;
- ``kb_sessions``: RetrieveAndGenerate conversation turns by sessionId;
- ``resource_tags``: tags of any bedrock-agent resource, keyed by ARN.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from model_layer.state.schema import metadata

knowledge_bases = Table(
    "kb_knowledge_bases",
    metadata,
    Column("knowledge_base_id", String(10), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text),
    Column("role_arn", String(2048), nullable=False),
    Column("configuration", Text, nullable=False),  # knowledgeBaseConfiguration (JSON)
    Column("storage", Text),  # storageConfiguration (JSON) as given
    Column("embedding_model_id", String(256), nullable=False),
    Column("status", String(32), nullable=False),
    Column("failure_reasons", Text),
    Column("index_version", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("tenant_id", "name", name="kb_name_per_tenant"),
)

data_sources = Table(
    "kb_data_sources",
    metadata,
    Column("data_source_id", String(10), primary_key=True),
    Column("knowledge_base_id", String(10), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text),
    Column("configuration", Text, nullable=False),  # dataSourceConfiguration (JSON)
    Column("ingestion", Text),  # vectorIngestionConfiguration (JSON)
    Column("deletion_policy", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("kb_ds_by_kb", "knowledge_base_id"),
)

ingestion_jobs = Table(
    "kb_ingestion_jobs",
    metadata,
    Column("ingestion_job_id", String(10), primary_key=True),
    Column("knowledge_base_id", String(10), nullable=False),
    Column("data_source_id", String(10), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),  # whose embeddings the job meters
    Column("description", Text),
    Column("status", String(16), nullable=False),
    Column("statistics", Text, nullable=False),  # IngestionJobStatistics (JSON)
    Column("failure_reasons", Text),
    Column("planned", Integer, nullable=False),  # 1 once the scan wrote kb_job_items
    Column("owner", String(64)),
    Column("heartbeat_at", Float),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("kb_jobs_by_ds", "data_source_id", "started_at"),
    Index("kb_jobs_by_status", "status"),
)

job_items = Table(
    "kb_job_items",
    metadata,
    Column("ingestion_job_id", String(10), primary_key=True),
    Column("uri", String(2048), primary_key=True),
    Column("action", String(8), nullable=False),  # index | delete
    Column("kind", String(8), nullable=False),  # new | modified | deleted
    Column("content_hash", String(128)),
    Column("metadata_hash", String(128)),  # the sidecar's, when it has one
    Column("state", String(8), nullable=False),  # pending | done | failed
    Column("reason", Text),
)

documents = Table(
    "kb_documents",
    metadata,
    Column("data_source_id", String(10), primary_key=True),
    Column("uri", String(2048), primary_key=True),
    Column("knowledge_base_id", String(10), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("content_hash", String(128)),
    Column("metadata_hash", String(128)),
    Column("chunks", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_reason", Text),
    Column("updated_at", Float, nullable=False),
)

sessions = Table(
    "kb_sessions",
    metadata,
    Column("session_id", String(100), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("turns", Text, nullable=False),  # [{"question", "answer"}] (JSON)
    Column("updated_at", Float, nullable=False),
)

resource_tags = Table(
    "resource_tags",
    metadata,
    Column("resource_arn", String(1011), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("tag_value", String(256), nullable=False),
)
