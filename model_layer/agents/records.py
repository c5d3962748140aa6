"""What the agents store hands out: plain records of rows, with their JSON bodies decoded.

Bodies keep Bedrock's field names (``instruction``, ``foundationModel``, ``actionGroupExecutor``…),
so the API layer renders them without renaming; timestamps are epoch seconds here and ISO 8601 on
the wire.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any

DRAFT = "DRAFT"
TEST_ALIAS_ID = "TSTALIASID"  # the built-in alias that runs the last prepared DRAFT
INLINE_AGENT = "INLINE"  # the agent key of InvokeInlineAgent sessions

_ID_ALPHABET = string.ascii_uppercase + string.digits


def new_id() -> str:
    """A 10-character id in Bedrock's shape (``[0-9a-zA-Z]{10}``; AWS uses upper case and digits)."""
    while True:
        candidate = "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
        if candidate != TEST_ALIAS_ID:
            return candidate


@dataclass
class AgentRecord:
    agent_id: str
    tenant_id: str
    name: str
    status: str
    body: dict[str, Any]
    prepared: dict[str, Any] | None  # the snapshot the last PrepareAgent took
    latest_version: int
    created_at: float
    updated_at: float
    prepared_at: float | None


@dataclass
class ActionGroupRecord:
    action_group_id: str
    agent_id: str
    name: str
    body: dict[str, Any]
    created_at: float
    updated_at: float


@dataclass
class KnowledgeBaseLink:
    agent_id: str
    knowledge_base_id: str
    description: str
    state: str
    created_at: float
    updated_at: float


@dataclass
class VersionRecord:
    agent_id: str
    version: int
    snapshot: dict[str, Any]
    created_at: float


@dataclass
class AliasRecord:
    alias_id: str
    agent_id: str
    name: str
    body: dict[str, Any]
    created_at: float
    updated_at: float


@dataclass
class SessionRecord:
    """One conversation. ``state`` holds sessionAttributes, turns and any pending return of control."""

    tenant_id: str
    agent_key: str  # the agent id, or INLINE_AGENT
    session_id: str
    alias_id: str | None
    memory_id: str | None
    state: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0
    updated_at: float = 0.0
    is_new: bool = False  # created by this acquisition (or the old one had expired)
    expired: SessionRecord | None = None  # the idle session this one replaced, to summarize


@dataclass
class MemoryRecord:
    memory_id: str
    session_id: str
    summary: str
    session_started_at: float
    expires_at: float
