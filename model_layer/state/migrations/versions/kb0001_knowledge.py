"""Knowledge bases: KBs, data sources, ingestion jobs and items, documents, sessions, resource tags.

Revision ID: kb0001
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "kb0001"
down_revision = "0001"
branch_labels = ("knowledge",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_knowledge_bases",
        sa.Column("knowledge_base_id", sa.String(10), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("role_arn", sa.String(2048), nullable=False),
        sa.Column("configuration", sa.Text, nullable=False),
        sa.Column("storage", sa.Text),
        sa.Column("embedding_model_id", sa.String(256), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reasons", sa.Text),
        sa.Column("index_version", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="kb_name_per_tenant"),
    )
    op.create_table(
        "kb_data_sources",
        sa.Column("data_source_id", sa.String(10), primary_key=True),
        sa.Column("knowledge_base_id", sa.String(10), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("configuration", sa.Text, nullable=False),
        sa.Column("ingestion", sa.Text),
        sa.Column("deletion_policy", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("kb_ds_by_kb", "kb_data_sources", ["knowledge_base_id"])
    op.create_table(
        "kb_ingestion_jobs",
        sa.Column("ingestion_job_id", sa.String(10), primary_key=True),
        sa.Column("knowledge_base_id", sa.String(10), nullable=False),
        sa.Column("data_source_id", sa.String(10), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("statistics", sa.Text, nullable=False),
        sa.Column("failure_reasons", sa.Text),
        sa.Column("planned", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("heartbeat_at", sa.Float),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("kb_jobs_by_ds", "kb_ingestion_jobs", ["data_source_id", "started_at"])
    op.create_index("kb_jobs_by_status", "kb_ingestion_jobs", ["status"])
    op.create_table(
        "kb_job_items",
        sa.Column("ingestion_job_id", sa.String(10), primary_key=True),
        sa.Column("uri", sa.String(2048), primary_key=True),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("content_hash", sa.String(128)),
        sa.Column("metadata_hash", sa.String(128)),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_table(
        "kb_documents",
        sa.Column("data_source_id", sa.String(10), primary_key=True),
        sa.Column("uri", sa.String(2048), primary_key=True),
        sa.Column("knowledge_base_id", sa.String(10), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(128)),
        sa.Column("metadata_hash", sa.String(128)),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "kb_sessions",
        sa.Column("session_id", sa.String(100), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("turns", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "resource_tags",
        sa.Column("resource_arn", sa.String(1011), primary_key=True),
        sa.Column("tag_key", sa.String(128), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("tag_value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "resource_tags",
        "kb_sessions",
        "kb_documents",
        "kb_job_items",
        "kb_ingestion_jobs",
        "kb_data_sources",
        "kb_knowledge_bases",
    ):
        op.drop_table(table)
