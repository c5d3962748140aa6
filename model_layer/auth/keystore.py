"""The key store: tenants and the credentials issued to them, in SQLite (file mode 0600).

One ``strata keys create`` issues a *key set* identified by its access key id (``AKIA`` + 16
upper-case alphanumerics, like AWS): a SigV4 key pair (secret sealed with :mod:`sealing`) and an
API key (``sk-strata-…``, stored only as its SHA-256). Revoking the access key id revokes the
whole set. Lookups hit the database every time, so a revocation by another process (the CLI next
to a running gateway) takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import string
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model_layer.auth.sealing import KEY_FILE_NAME, Sealer
from model_layer.settings import GatewaySettings
from strata.errors import NotFoundError, StrataError
from strata.home import connect_state_db

DB_FILE_NAME = "keys.db"
API_KEY_PREFIX = "sk-strata-"
_TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_AKID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    tenant_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    requests_per_minute INTEGER,
    tokens_per_minute INTEGER
);
CREATE TABLE IF NOT EXISTS key_sets (
    access_key_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id),
    sealed_secret TEXT NOT NULL,
    api_key_sha256 TEXT NOT NULL UNIQUE,
    api_key_hint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


class InvalidTenantError(StrataError):
    """A tenant id that does not fit the allowed pattern."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(30)


@dataclass(frozen=True)
class TenantRecord:
    tenant_id: str
    created_at: str
    requests_per_minute: int | None
    tokens_per_minute: int | None


@dataclass(frozen=True)
class IssuedKeys:
    """What ``keys create`` shows once: the only time the secret and API key are visible."""

    tenant_id: str
    access_key_id: str
    secret_access_key: str
    api_key: str
    requests_per_minute: int | None
    tokens_per_minute: int | None


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

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": "active" if self.active else "revoked"}


def _open_private_db(path: Path) -> sqlite3.Connection:
    # Created 0600 (its -wal/-shm follow); read-only, changing nothing, on a read-only home.
    conn = connect_state_db(path)
    conn.execute("PRAGMA journal_mode=WAL")  # CLI writes while the gateway reads
    conn.execute("PRAGMA busy_timeout=5000")
    conn.row_factory = sqlite3.Row
    return conn


class KeyStore:
    """Tenants and key sets. Thread-safe; one SQLite connection guarded by a lock."""

    def __init__(self, path: Path, sealer: Sealer | None = None, *, key_file: Path | None = None):
        self.path = path
        self._sealer = sealer
        self._key_file = key_file or path.parent / KEY_FILE_NAME
        self._lock = threading.Lock()
        self._conn = _open_private_db(path)
        with self._lock:
            self._conn.executescript(_SCHEMA)

    @classmethod
    def open(cls, settings: GatewaySettings) -> KeyStore:
        state = settings.state_dir()
        sealer = Sealer(settings.keystore_key.get_secret_value()) if settings.keystore_key else None
        return cls(state / DB_FILE_NAME, sealer)

    @property
    def sealer(self) -> Sealer:
        # Created on first use, so read-only users (the rate limiter) never touch the key file.
        if self._sealer is None:
            self._sealer = Sealer.from_file(self._key_file)
        return self._sealer

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- tenants -------------------------------------------------------------------------------

    def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM tenants WHERE tenant_id = ?", (tenant_id,)).fetchone()
        return TenantRecord(**dict(row)) if row else None

    def ensure_tenant(
        self,
        tenant_id: str,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
    ) -> TenantRecord:
        """Create the tenant if needed; limits given here replace the tenant's current ones."""
        if not _TENANT_ID.match(tenant_id):
            raise InvalidTenantError(
                f"invalid tenant id {tenant_id!r}",
                hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        for name, value in (("--rpm", requests_per_minute), ("--tpm", tokens_per_minute)):
            if value is not None and value < 1:
                raise StrataError(f"{name} must be at least 1, got {value}")
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO tenants(tenant_id, created_at) VALUES (?, ?)", (tenant_id, _now())
            )
            if requests_per_minute is not None:
                self._conn.execute(
                    "UPDATE tenants SET requests_per_minute = ? WHERE tenant_id = ?",
                    (requests_per_minute, tenant_id),
                )
            if tokens_per_minute is not None:
                self._conn.execute(
                    "UPDATE tenants SET tokens_per_minute = ? WHERE tenant_id = ?",
                    (tokens_per_minute, tenant_id),
                )
        record = self.get_tenant(tenant_id)
        assert record is not None
        return record

    # --- key sets ------------------------------------------------------------------------------

    def create_keys(
        self,
        tenant_id: str,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
    ) -> IssuedKeys:
        tenant = self.ensure_tenant(
            tenant_id, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
        )
        akid, secret, api_key = new_access_key_id(), new_secret_access_key(), new_api_key()
        hint = f"{API_KEY_PREFIX}…{api_key[-4:]}"
        sealed = self.sealer.seal(secret)
        with self._lock:
            self._conn.execute(
                "INSERT INTO key_sets(access_key_id, tenant_id, sealed_secret, api_key_sha256,"
                " api_key_hint, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (akid, tenant_id, sealed, hash_api_key(api_key), hint, _now()),
            )
        return IssuedKeys(
            tenant_id, akid, secret, api_key, tenant.requests_per_minute, tenant.tokens_per_minute
        )

    def list_keys(self, tenant_id: str | None = None, *, access_key_id: str | None = None) -> list[KeyRecord]:
        sql = (
            "SELECT k.access_key_id, k.tenant_id, k.api_key_hint, k.created_at, k.revoked_at,"
            " t.requests_per_minute, t.tokens_per_minute"
            " FROM key_sets k JOIN tenants t USING (tenant_id) WHERE 1 = 1"
        )
        args: list[str] = []
        if tenant_id is not None:
            sql += " AND k.tenant_id = ?"
            args.append(tenant_id)
        if access_key_id is not None:
            sql += " AND k.access_key_id = ?"
            args.append(access_key_id)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY k.rowid", args).fetchall()
        return [KeyRecord(**dict(r)) for r in rows]

    def revoke(self, access_key_id: str) -> KeyRecord:
        """Revoke a key set (idempotent). Raises ``NotFoundError`` for an unknown id."""
        with self._lock:
            self._conn.execute(
                "UPDATE key_sets SET revoked_at = ? WHERE access_key_id = ? AND revoked_at IS NULL",
                (_now(), access_key_id),
            )
        found = self.list_keys(access_key_id=access_key_id)
        if not found:
            raise NotFoundError(f"no key {access_key_id!r}", hint="see `strata keys list`")
        return found[0]

    def secret_for(self, access_key_id: str) -> tuple[str, str] | None:
        """``(tenant_id, secret)`` of an active access key, or None if unknown or revoked."""
        with self._lock:
            row = self._conn.execute(
                "SELECT tenant_id, sealed_secret FROM key_sets"
                " WHERE access_key_id = ? AND revoked_at IS NULL",
                (access_key_id,),
            ).fetchone()
        if row is None:
            return None
        return row["tenant_id"], self.sealer.unseal(row["sealed_secret"])

    def find_api_key(self, api_key: str) -> tuple[str, str] | None:
        """``(tenant_id, access_key_id)`` of an active API key, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT tenant_id, access_key_id FROM key_sets"
                " WHERE api_key_sha256 = ? AND revoked_at IS NULL",
                (hash_api_key(api_key),),
            ).fetchone()
        return (row["tenant_id"], row["access_key_id"]) if row else None
