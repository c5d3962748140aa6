"""Guardrails: definitions (DRAFT), numbered versions, text-unit usage.

Revision ID: g001
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "g001"
down_revision = "0001"
branch_labels = ("guardrails",)
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "guardrails",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("guardrail_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.Column("client_token", sa.String(256)),
        sa.UniqueConstraint("tenant_id", "name", name="guardrails_name_per_tenant"),
    )
    op.create_table(
        "guardrail_versions",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("guardrail_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("description", sa.String(200)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("client_token", sa.String(256)),
    )
    op.create_table(
        "guardrail_usage",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("guardrail_id", sa.String(64), nullable=False),
        sa.Column("guardrail_version", sa.String(16), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("topic_policy_units", sa.Integer, nullable=False),
        sa.Column("content_policy_units", sa.Integer, nullable=False),
        sa.Column("word_policy_units", sa.Integer, nullable=False),
        sa.Column("sensitive_information_policy_units", sa.Integer, nullable=False),
        sa.Column("sensitive_information_policy_free_units", sa.Integer, nullable=False),
        sa.Column("contextual_grounding_policy_units", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("request_id", sa.String(64)),
    )
    op.create_index("guardrail_usage_by_tenant_time", "guardrail_usage", ["tenant_id", "at"])


def downgrade() -> None:
    for table in ("guardrail_usage", "guardrail_versions", "guardrails"):
        op.drop_table(table)
