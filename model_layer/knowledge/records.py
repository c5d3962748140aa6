"""The knowledge subsystem's records and names: ids, ARNs, timestamps, and the dataclasses the
store returns. Pure data; no I/O."""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_ID_ALPHABET = string.ascii_uppercase + string.digits

# AWS statuses (botocore's bedrock-agent model)
KB_ACTIVE, KB_DELETING = "ACTIVE", "DELETING"
DS_AVAILABLE, DS_DELETING = "AVAILABLE", "DELETING"
JOB_STARTING, JOB_IN_PROGRESS, JOB_COMPLETE = "STARTING", "IN_PROGRESS", "COMPLETE"
JOB_FAILED, JOB_STOPPING, JOB_STOPPED = "FAILED", "STOPPING", "STOPPED"
RUNNING_JOB_STATUSES = (JOB_STARTING, JOB_IN_PROGRESS, JOB_STOPPING)

STATISTICS_KEYS = (
    "numberOfDocumentsScanned",
    "numberOfMetadataDocumentsScanned",
    "numberOfNewDocumentsIndexed",
    "numberOfModifiedDocumentsIndexed",
    "numberOfMetadataDocumentsModified",
    "numberOfDocumentsDeleted",
    "numberOfDocumentsFailed",
    "numberOfDocumentsSkipped",
)


def new_id() -> str:
    """A 10-character id in AWS's alphabet (``[0-9A-Z]{10}``)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def now() -> float:
    return time.time()


def iso(ts: float) -> str:
    """A DateTimestamp as AWS sends it (ISO 8601, UTC)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def account_id(tenant_id: str) -> str:
    """The 12-digit account id a tenant's ARNs carry (stable, derived from the tenant id)."""
    digest = int.from_bytes(hashlib.sha256(tenant_id.encode()).digest()[:8], "big")
    return f"{digest % 10**12:012d}"


def knowledge_base_arn(region: str, tenant_id: str, kb_id: str) -> str:
    return f"arn:aws:bedrock:{region}:{account_id(tenant_id)}:knowledge-base/{kb_id}"


def foundation_model_id(arn_or_id: str) -> str:
    """``arn:aws:bedrock:…::foundation-model/<id>`` → ``<id>``; a plain id is returned unchanged."""
    marker = ":foundation-model/"
    return arn_or_id.split(marker, 1)[1] if marker in arn_or_id else arn_or_id


@dataclass
class KnowledgeBase:
    knowledge_base_id: str
    tenant_id: str
    name: str
    description: str | None
    role_arn: str
    configuration: dict[str, Any]
    storage: dict[str, Any] | None
    embedding_model_id: str
    status: str
    index_version: int
    created_at: float
    updated_at: float
    failure_reasons: list[str] = field(default_factory=list)


@dataclass
class DataSource:
    data_source_id: str
    knowledge_base_id: str
    tenant_id: str
    name: str
    description: str | None
    configuration: dict[str, Any]
    ingestion: dict[str, Any] | None
    deletion_policy: str
    status: str
    created_at: float
    updated_at: float

    @property
    def source_type(self) -> str:
        return self.configuration.get("type", "")

    @property
    def chunking(self) -> dict[str, Any]:
        return (self.ingestion or {}).get("chunkingConfiguration") or {"chunkingStrategy": "FIXED_SIZE"}


@dataclass
class IngestionJob:
    ingestion_job_id: str
    knowledge_base_id: str
    data_source_id: str
    tenant_id: str
    key_id: str
    description: str | None
    status: str
    statistics: dict[str, int]
    failure_reasons: list[str]
    planned: bool
    started_at: float
    updated_at: float


@dataclass
class JobItem:
    uri: str
    action: str  # index | delete
    kind: str  # new | modified | deleted
    content_hash: str | None
    metadata_hash: str | None
    state: str = "pending"
    reason: str | None = None


@dataclass
class DocumentRecord:
    data_source_id: str
    uri: str
    knowledge_base_id: str
    content_hash: str | None
    metadata_hash: str | None
    chunks: int
    status: str
    status_reason: str | None
    updated_at: float


@dataclass
class RetrievalResult:
    """One Retrieve result, as Bedrock returns it (and as agents consume it)."""

    content: dict[str, Any]  # {"type": "TEXT", "text": ...}
    location: dict[str, Any]  # {"type": "S3", "s3Location": {"uri": ...}} | CUSTOM | strata's FILE
    score: float
    metadata: dict[str, Any]
    document_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"content": self.content, "location": self.location, "score": self.score}
        if self.metadata:  # the model's minimum map size is 1: leave it out rather than send {}
            out["metadata"] = self.metadata
        return out

    def reference(self) -> dict[str, Any]:
        """A RetrievedReference (citations): content, location, metadata."""
        out = {"content": self.content, "location": self.location}
        if self.metadata:
            out["metadata"] = self.metadata
        return out
