"""Plain records the state store reads and writes (no SQLAlchemy types leak past the store)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")  # orders key sets created in one second


def parse_iso(value: str) -> datetime:
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ModelLimit:
    """Rate limits of one tenant on one model; None = no limit of that kind."""

    model_id: str
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass(frozen=True)
class TenantRecord:
    tenant_id: str
    created_at: str
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    allowed_models: tuple[str, ...] | None = None  # None = every model the gateway serves
    daily_budget_usd: float | None = None
    monthly_budget_usd: float | None = None
    model_limits: tuple[ModelLimit, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["allowed_models"] = list(self.allowed_models) if self.allowed_models is not None else None
        out["model_limits"] = [asdict(m) for m in self.model_limits]
        return out


@dataclass(frozen=True)
class KeySetRecord:
    """A key set as stored: the API key only as its SHA-256, the SigV4 secret sealed."""

    access_key_id: str
    tenant_id: str
    sealed_secret: str
    api_key_sha256: str
    api_key_hint: str
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None
    replaced_by: str | None = None

    def expired(self, now: datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        return parse_iso(self.expires_at) <= (now or datetime.now(UTC))

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expired() else "active"

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class UsageRecord:
    """One model call as metered."""

    at: float
    tenant_id: str
    key_id: str
    model_id: str
    operation: str
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_write_input_tokens: int
    cost_usd: float
    latency_ms: int
    outcome: str  # "complete" | "error" | "client_disconnected"
    error_code: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class UsageSummary:
    """Totals for one tenant and model, as ``strata usage`` and the usage API show them."""

    tenant_id: str
    model_id: str
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_write_input_tokens: int
    cost_usd: float
    avg_latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Spend:
    """What a tenant has spent in the current UTC day and month (metered cost, USD)."""

    day_usd: float = 0.0
    month_usd: float = 0.0
