"""The guardrails' tables on the shared state schema (migrated on the ``guardrails`` Alembic branch).

- ``guardrails``: one row per guardrail and tenant: the DRAFT definition (JSON), its status, a
  ``revision`` bumped by every update (compiled guardrails are cached by it) and the last version
  number given out (numbers are never reused, even after a version is deleted);
- ``guardrail_versions``: immutable numbered snapshots of a DRAFT (CreateGuardrailVersion);
- ``guardrail_usage``: one row per guardrail evaluation (ApplyGuardrail, or a check inside
  Converse/InvokeModel/OpenAI chat) with Bedrock's text units per policy. Kept apart from the
  ``usage`` table because units come per policy (six counters) and a check inside Converse is
  not a call of its own: the call's tokens stay in its ``usage`` row, joined by ``request_id``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from model_layer.state.schema import metadata

guardrails = Table(
    "guardrails",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("guardrail_id", String(64), primary_key=True),
    Column("name", String(50), nullable=False),
    Column("status", String(16), nullable=False),
    Column("definition", Text, nullable=False),  # JSON: the DRAFT's configuration as CreateGuardrail takes it
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("last_version", Integer, nullable=False),
    Column("client_token", String(256)),
    UniqueConstraint("tenant_id", "name", name="guardrails_name_per_tenant"),
)

guardrail_versions = Table(
    "guardrail_versions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("guardrail_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("definition", Text, nullable=False),
    Column("description", String(200)),
    Column("created_at", String(32), nullable=False),
    Column("client_token", String(256)),
)

guardrail_usage = Table(
    "guardrail_usage",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("guardrail_id", String(64), nullable=False),
    Column("guardrail_version", String(16), nullable=False),
    Column("operation", String(64), nullable=False),  # ApplyGuardrail | Converse | ConverseStream | ...
    Column("source", String(8), nullable=False),  # INPUT | OUTPUT
    Column("action", String(32), nullable=False),  # GUARDRAIL_INTERVENED | NONE
    Column("topic_policy_units", Integer, nullable=False),
    Column("content_policy_units", Integer, nullable=False),
    Column("word_policy_units", Integer, nullable=False),
    Column("sensitive_information_policy_units", Integer, nullable=False),
    Column("sensitive_information_policy_free_units", Integer, nullable=False),
    Column("contextual_grounding_policy_units", Integer, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("request_id", String(64)),
    Index("guardrail_usage_by_tenant_time", "tenant_id", "at"),
)
