"""The key store: tenants and the credentials issued to them, kept in the shared state store.

One ``strata keys create`` issues a *key set* identified by its access key id (``AKIA`` + 16
upper-case alphanumerics, like AWS): a SigV4 key pair (secret sealed with :mod:`sealing`, since
the server must recompute signatures) and an API key (``sk-strata-…``, stored only as its
SHA-256). Revoking the access key id revokes the whole set; a key set may expire
(``--expires-in``), and rotation issues a successor while the old set keeps working for a grace
period. Tenants carry their policy: rate limits, per-model limits, allowed models and budgets.

The rows live in :mod:`model_layer.state` (SQLite or PostgreSQL), shared by every gateway
replica; the request path reads them through :class:`~model_layer.auth.credentials.Credentials`,
a cache that every change here invalidates on all replicas.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from model_layer.auth.sealing import KEY_FILE_NAME, Sealer
from model_layer.settings import GatewaySettings
from model_layer.state import UNSET, KeySetRecord, ModelLimit, State, TenantRecord, open_state
from model_layer.state.records import now_iso
from model_layer.types import NO_POLICY, TenantPolicy
from strata.errors import NotFoundError, StrataError

API_KEY_PREFIX = "sk-strata-"
_TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_AKID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


class InvalidTenantError(StrataError):
    """A tenant id that does not fit the allowed pattern."""


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(30)


def policy_of(record: TenantRecord | None) -> TenantPolicy:
    """The request-path view of a tenant (what the limiter, budgets and model access need)."""
    if record is None:
        return NO_POLICY
    return TenantPolicy(
        requests_per_minute=record.requests_per_minute,
        tokens_per_minute=record.tokens_per_minute,
        allowed_models=frozenset(record.allowed_models) if record.allowed_models is not None else None,
        daily_budget_usd=record.daily_budget_usd,
        monthly_budget_usd=record.monthly_budget_usd,
        model_limits=tuple(
            (m.model_id, m.requests_per_minute, m.tokens_per_minute) for m in record.model_limits
        ),
    )


@dataclass(frozen=True)
class IssuedKeys:
    """What ``keys create`` / ``keys rotate`` show once: the only time the secrets are visible."""

    tenant_id: str
    access_key_id: str
    secret_access_key: str
    api_key: str
    requests_per_minute: int | None
    tokens_per_minute: int | None
    expires_at: str | None = None


@dataclass(frozen=True)
class KeyRecord:
    """A key set as ``keys list`` shows it: no secrets."""

    access_key_id: str
    tenant_id: str
    api_key_hint: str
    created_at: str
    revoked_at: str | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    expires_at: str | None = None
    replaced_by: str | None = None
    status: str = "active"

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Limits are INTEGER columns: 32 bits on PostgreSQL (SQLite takes 64), so a bigger number would
# be a database error (a traceback in the CLI, a 500 from the admin API) instead of a refusal.
MAX_LIMIT = 2**31 - 1
MAX_MODEL_ID = 256  # model_limits.model_id is VARCHAR(256)


def _check_limit(name: str, value: Any) -> None:
    if value is None or value is UNSET:
        return
    if value < 1:
        raise StrataError(f"{name} must be at least 1, got {value}")
    if value > MAX_LIMIT:
        raise StrataError(f"{name} must be at most {MAX_LIMIT}, got {value}")


def _check_model_limit(limit: dict[str, Any]) -> None:
    model_id = limit.get("model_id") or ""
    if not 1 <= len(model_id) <= MAX_MODEL_ID:
        raise StrataError(
            f"a model limit needs a model id of 1-{MAX_MODEL_ID} characters, got {model_id[:40]!r}"
        )
    _check_limit(f"requests_per_minute for {model_id}", limit.get("requests_per_minute"))
    _check_limit(f"tokens_per_minute for {model_id}", limit.get("tokens_per_minute"))


def _check_budget(name: str, value: Any) -> None:
    if value is not None and value is not UNSET and (not math.isfinite(value) or value < 0):
        raise StrataError(f"{name} must be a non-negative amount in USD, got {value}")


def _expiry(expires_in: timedelta | None) -> str | None:
    if expires_in is None:
        return None
    if expires_in.total_seconds() <= 0:
        raise StrataError("an expiry must be in the future")
    return (datetime.now(UTC) + expires_in).isoformat(timespec="seconds")


class KeyStore:
    """Tenants and key sets over the shared state store. Thread-safe (the store's connections are pooled)."""

    def __init__(
        self,
        state: State,
        sealer: Sealer | None = None,
        *,
        key_file: Path | None = None,
        on_change: Callable[[], None] | None = None,
    ):
        self.state = state
        self._sealer = sealer
        self._key_file = key_file
        # Called after every write: the gateway drops its cached credentials at once.
        self.on_change = on_change

    @classmethod
    def open(
        cls,
        settings: GatewaySettings,
        state: State | None = None,
        *,
        on_change: Callable[[], None] | None = None,
    ) -> KeyStore:
        sealer = Sealer(settings.keystore_key.get_secret_value()) if settings.keystore_key else None
        key_file = settings.state_dir() / KEY_FILE_NAME
        return cls(state or open_state(settings), sealer, key_file=key_file, on_change=on_change)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    @property
    def sealer(self) -> Sealer:
        # Created on first use, so read-only users (keys list, the limiter) never touch the key file.
        if self._sealer is None:
            if self._key_file is None:
                raise StrataError("no key-store sealing key", hint="set STRATA_KEYSTORE_KEY")
            self._sealer = Sealer.from_file(self._key_file)
        return self._sealer

    def close(self) -> None:
        self.state.close()

    # --- tenants -------------------------------------------------------------------------------

    def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        return self.state.tenants.get_tenant(tenant_id)

    def list_tenants(self) -> list[TenantRecord]:
        return self.state.tenants.list_tenants()

    def ensure_tenant(
        self, tenant_id: str, *, requests_per_minute: int | None = None, tokens_per_minute: int | None = None
    ) -> TenantRecord:
        """Create the tenant if needed; limits given here replace the tenant's current ones."""
        return self.set_tenant(
            tenant_id,
            requests_per_minute=UNSET if requests_per_minute is None else requests_per_minute,
            tokens_per_minute=UNSET if tokens_per_minute is None else tokens_per_minute,
        )

    def set_tenant(
        self,
        tenant_id: str,
        *,
        requests_per_minute: Any = UNSET,
        tokens_per_minute: Any = UNSET,
        allowed_models: Any = UNSET,
        daily_budget_usd: Any = UNSET,
        monthly_budget_usd: Any = UNSET,
        model_limits: list[dict[str, Any]] | None = None,
    ) -> TenantRecord:
        """Create or update a tenant: fields left ``UNSET`` keep their value, ``None`` clears one."""
        if not _TENANT_ID.match(tenant_id):
            raise InvalidTenantError(
                f"invalid tenant id {tenant_id!r}",
                hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        _check_limit("--rpm", requests_per_minute)
        _check_limit("--tpm", tokens_per_minute)
        _check_budget("--daily-budget", daily_budget_usd)
        _check_budget("--monthly-budget", monthly_budget_usd)
        for limit in model_limits or []:  # all checked before anything is written
            _check_model_limit(limit)
        record = self.state.tenants.put_tenant(
            tenant_id,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            allowed_models=allowed_models,
            daily_budget_usd=daily_budget_usd,
            monthly_budget_usd=monthly_budget_usd,
        )
        for limit in model_limits or []:
            self.state.tenants.set_model_limit(tenant_id, ModelLimit(**limit))
        self._changed()
        return self.state.tenants.get_tenant(tenant_id) if model_limits else record

    # --- key sets ------------------------------------------------------------------------------

    def create_keys(
        self,
        tenant_id: str,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        expires_in: timedelta | None = None,
    ) -> IssuedKeys:
        expires_at = _expiry(expires_in)  # refused before the tenant is created
        tenant = self.ensure_tenant(
            tenant_id, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
        )
        return self._issue(tenant, expires_at)

    def rotate(
        self, access_key_id: str, *, grace: timedelta, expires_in: timedelta | None = None
    ) -> IssuedKeys:
        """Issue a successor to a key set; the old one keeps working for ``grace``, then expires."""
        old = self.state.tenants.by_access_key(access_key_id)
        if old is None:
            raise NotFoundError(f"no key {access_key_id!r}", hint="see `strata keys list`")
        if old.status != "active":
            raise StrataError(f"key {access_key_id} is {old.status}; only an active key can be rotated")
        if old.replaced_by is not None:
            # Another successor would leave two live keys and no one knowing which is current.
            raise StrataError(
                f"key {access_key_id} was already rotated: {old.replaced_by} replaces it",
                hint=f"rotate {old.replaced_by} instead, or revoke it",
            )
        tenant = self.get_tenant(old.tenant_id)
        assert tenant is not None
        old_expiry = (datetime.now(UTC) + grace).isoformat(timespec="seconds")
        if old.expires_at is not None and old.expires_at < old_expiry:
            old_expiry = old.expires_at  # rotation never extends a key's life
        return self._issue(tenant, _expiry(expires_in), replaces=access_key_id, old_expires_at=old_expiry)

    def _issue(
        self,
        tenant: TenantRecord,
        expires_at: str | None,
        *,
        replaces: str | None = None,
        old_expires_at: str | None = None,
    ) -> IssuedKeys:
        akid, secret, api_key = new_access_key_id(), new_secret_access_key(), new_api_key()
        record = KeySetRecord(
            access_key_id=akid,
            tenant_id=tenant.tenant_id,
            sealed_secret=self.sealer.seal(secret),
            api_key_sha256=hash_api_key(api_key),
            api_key_hint=f"{API_KEY_PREFIX}…{api_key[-4:]}",
            created_at=now_iso(),
            expires_at=expires_at,
        )
        self.state.tenants.add_key_set(record, replaces=replaces, old_expires_at=old_expires_at)
        self._changed()
        return IssuedKeys(
            tenant.tenant_id,
            akid,
            secret,
            api_key,
            tenant.requests_per_minute,
            tenant.tokens_per_minute,
            expires_at,
        )

    def list_keys(self, tenant_id: str | None = None, *, access_key_id: str | None = None) -> list[KeyRecord]:
        tenants = {t.tenant_id: t for t in self.list_tenants()}
        out = []
        for k in self.state.tenants.list_key_sets(tenant_id, access_key_id):
            t = tenants.get(k.tenant_id)
            out.append(
                KeyRecord(
                    access_key_id=k.access_key_id,
                    tenant_id=k.tenant_id,
                    api_key_hint=k.api_key_hint,
                    created_at=k.created_at,
                    revoked_at=k.revoked_at,
                    requests_per_minute=t.requests_per_minute if t else None,
                    tokens_per_minute=t.tokens_per_minute if t else None,
                    expires_at=k.expires_at,
                    replaced_by=k.replaced_by,
                    status=k.status,
                )
            )
        return out

    def revoke(self, access_key_id: str) -> KeyRecord:
        """Revoke a key set (idempotent). Raises ``NotFoundError`` for an unknown id."""
        if not self.state.tenants.revoke(access_key_id):
            raise NotFoundError(f"no key {access_key_id!r}", hint="see `strata keys list`")
        self._changed()
        return self.list_keys(access_key_id=access_key_id)[0]

    # --- lookups (the request path reads these through auth.credentials' cache) -------------------

    def key_set_by_access_key(self, access_key_id: str) -> KeySetRecord | None:
        return self.state.tenants.by_access_key(access_key_id)

    def key_set_by_api_key_hash(self, sha256: str) -> KeySetRecord | None:
        return self.state.tenants.by_api_key_hash(sha256)

    def secret_for(self, access_key_id: str) -> tuple[str, str] | None:
        """``(tenant_id, secret)`` of an active access key, or None if unknown, revoked or expired."""
        found = self.key_set_by_access_key(access_key_id)
        if found is None or not found.active:
            return None
        return found.tenant_id, self.sealer.unseal(found.sealed_secret)

    def find_api_key(self, api_key: str) -> tuple[str, str] | None:
        """``(tenant_id, access_key_id)`` of an active API key, or None."""
        found = self.key_set_by_api_key_hash(hash_api_key(api_key))
        if found is None or not found.active:
            return None
        return found.tenant_id, found.access_key_id
