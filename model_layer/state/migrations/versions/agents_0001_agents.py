"""Agents: definitions, action groups, knowledge-base associations, versions, aliases, sessions, memory.

Revision ID: agents_0001
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "agents_0001"
down_revision = "0001"
branch_labels = ("agents",)
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(10), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("agent_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("client_token", sa.String(256)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("prepared", sa.Text),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("prepared_at", sa.Float),
    )
    op.create_index("agents_by_tenant", "agents", ["tenant_id", "created_at"])
    op.create_table(
        "agent_action_groups",
        sa.Column("action_group_id", sa.String(10), primary_key=True),
        sa.Column("agent_id", sa.String(10), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("action_group_name", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("agent_action_groups_by_agent", "agent_action_groups", ["tenant_id", "agent_id"])
    op.create_table(
        "agent_knowledge_bases",
        sa.Column("agent_id", sa.String(10), primary_key=True),
        sa.Column("knowledge_base_id", sa.String(10), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "agent_versions",
        sa.Column("agent_id", sa.String(10), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "agent_aliases",
        sa.Column("alias_id", sa.String(10), primary_key=True),
        sa.Column("agent_id", sa.String(10), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("alias_name", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("agent_aliases_by_agent", "agent_aliases", ["tenant_id", "agent_id"])
    op.create_table(
        "agent_sessions",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.String(16), primary_key=True),
        sa.Column("session_id", sa.String(100), primary_key=True),
        sa.Column("alias_id", sa.String(10)),
        sa.Column("memory_id", sa.String(100)),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
    )
    op.create_table(
        "agent_memories",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(10), nullable=False),
        sa.Column("memory_id", sa.String(100), nullable=False),
        sa.Column("session_id", sa.String(100), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("session_started_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("agent_memories_by_memory", "agent_memories", ["tenant_id", "agent_id", "memory_id"])


def downgrade() -> None:
    for table in (
        "agent_memories",
        "agent_sessions",
        "agent_aliases",
        "agent_versions",
        "agent_knowledge_bases",
        "agent_action_groups",
        "agents",
    ):
        op.drop_table(table)
