"""The gateway's shared state as SQLAlchemy Core tables: one schema for SQLite and PostgreSQL.

The tables are the source of truth for migrations (``migrations/versions``): a change here needs
a new revision there, and ``tests/model_layer/state`` checks the two agree. Subsystems that keep
state of their own (guardrails, knowledge bases, agents) declare their tables in their own
``schema`` module on this same :data:`metadata`, and migrate them on a branch of their own
(``branch_labels``, ``down_revision = "0001"``) in the same ``versions`` folder, so their
migrations never conflict; :func:`~model_layer.state.database.migrate` upgrades every head.

- ``tenants``: who may call, with what limits, models and budgets;
- ``key_sets``: credentials issued to tenants (API key hashes, sealed SigV4 secrets);
- ``model_limits``: per-tenant, per-model rate limits;
- ``usage``: one row per model call (tokens, cost, latency, outcome);
- ``spend``: running cost per tenant and period (day, month), kept with each usage row so
  budgets are checked without summing ``usage``;
- ``usage_journal``: per local usage-journal segment, the highest entry committed to ``usage``
  (written in the same transaction), so a replay after ``kill -9`` never counts a call twice;
- ``state_revision``: a counter every change to tenants or keys bumps; replicas poll it to drop
  their caches.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("created_at", String(32), nullable=False),
    Column("requests_per_minute", Integer),
    Column("tokens_per_minute", Integer),
    Column("allowed_models", Text),  # JSON list of gateway model ids; NULL = every model
    Column("daily_budget_usd", Float),
    Column("monthly_budget_usd", Float),
)

key_sets = Table(
    "key_sets",
    metadata,
    Column("access_key_id", String(20), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.tenant_id"), nullable=False),
    Column("sealed_secret", Text, nullable=False),
    Column("api_key_sha256", String(64), nullable=False, unique=True),
    Column("api_key_hint", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32)),
    Column("revoked_at", String(32)),
    Column("replaced_by", String(20)),  # set by rotation: the key set that succeeds this one
)

model_limits = Table(
    "model_limits",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.tenant_id"), primary_key=True),
    Column("model_id", String(256), primary_key=True),
    Column("requests_per_minute", Integer),
    Column("tokens_per_minute", Integer),
)

usage = Table(
    "usage",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("model_id", String(256), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cache_read_input_tokens", Integer, nullable=False),
    Column("cache_write_input_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("outcome", String(32), nullable=False),  # complete | error | client_disconnected
    Column("error_code", String(64)),
    Column("request_id", String(64)),
    Index("usage_by_tenant_time", "tenant_id", "at"),
    Index("usage_by_time", "at"),
)

spend = Table(
    "spend",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("period", String(16), primary_key=True),  # "d:2026-12-02" or "m:2026-12" (UTC)
    Column("cost_usd", Float, nullable=False),
)

usage_journal = Table(
    "usage_journal",
    metadata,
    Column("journal_id", String(96), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

state_revision = Table(
    "state_revision",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", BigInteger, nullable=False),
)
