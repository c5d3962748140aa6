"""The agents subsystem's tables, on the shared state metadata (migrated on the ``agents`` branch).

Every row carries ``tenant_id`` and every query filters on it: another tenant's agent, alias,
session or memory is simply not found. Definitions keep Bedrock's own JSON shapes in ``body``
columns (what CreateAgent / CreateAgentActionGroup accepted, as validated), so the API can answer
Get* with what was stored, and columns only hold what is looked up or changed on its own.

- ``agents``: the DRAFT definition of each agent, its status and the snapshot taken by the last
  PrepareAgent (what the test alias ``TSTALIASID`` runs);
- ``agent_action_groups`` / ``agent_knowledge_bases``: the DRAFT's action groups and
  knowledge-base associations;
- ``agent_versions``: immutable numbered versions (a snapshot of agent + action groups +
  knowledge bases), created by CreateAgentAlias;
- ``agent_aliases``: aliases and the version each routes to;
- ``agent_sessions``: one conversation per (tenant, agent, session id): attributes, the turns so
  far, a pending return of control, and a lease so one session runs one invocation at a time;
- ``agent_memories``: session summaries kept for a memory id (memoryConfiguration SESSION_SUMMARY).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from model_layer.state.schema import metadata

agents = Table(
    "agents",
    metadata,
    Column("agent_id", String(10), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("agent_name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("client_token", String(256)),
    Column("body", Text, nullable=False),  # JSON: the DRAFT's Agent fields
    Column("prepared", Text),  # JSON snapshot taken by the last PrepareAgent; NULL = never prepared
    Column("latest_version", Integer, nullable=False),  # 0 = no numbered version yet
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("prepared_at", Float),
    Index("agents_by_tenant", "tenant_id", "created_at"),
)

agent_action_groups = Table(
    "agent_action_groups",
    metadata,
    Column("action_group_id", String(10), primary_key=True),
    Column("agent_id", String(10), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("action_group_name", String(200), nullable=False),
    Column("body", Text, nullable=False),  # JSON: the AgentActionGroup fields
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("agent_action_groups_by_agent", "tenant_id", "agent_id"),
)

agent_knowledge_bases = Table(
    "agent_knowledge_bases",
    metadata,
    Column("agent_id", String(10), primary_key=True),
    Column("knowledge_base_id", String(10), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("state", String(16), nullable=False),  # ENABLED | DISABLED
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

agent_versions = Table(
    "agent_versions",
    metadata,
    Column("agent_id", String(10), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("snapshot", Text, nullable=False),  # JSON: agent, actionGroups, knowledgeBases
    Column("created_at", Float, nullable=False),
)

agent_aliases = Table(
    "agent_aliases",
    metadata,
    Column("alias_id", String(10), primary_key=True),
    Column("agent_id", String(10), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("alias_name", String(200), nullable=False),
    Column("body", Text, nullable=False),  # JSON: description, routingConfiguration, history, tags
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("agent_aliases_by_agent", "tenant_id", "agent_id"),
)

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("agent_id", String(16), primary_key=True),  # "INLINE" for InvokeInlineAgent sessions
    Column("session_id", String(100), primary_key=True),
    Column("alias_id", String(10)),
    Column("memory_id", String(100)),
    Column("state", Text, nullable=False),  # JSON: attributes, turns, pending return of control
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),  # last activity: the idle TTL counts from here
    Column("lease_until", Float, nullable=False),  # an invocation in progress holds it until then
)

agent_memories = Table(
    "agent_memories",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("agent_id", String(10), nullable=False),
    Column("memory_id", String(100), nullable=False),
    Column("session_id", String(100), nullable=False),
    Column("summary", Text, nullable=False),
    Column("session_started_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("agent_memories_by_memory", "tenant_id", "agent_id", "memory_id"),
)
