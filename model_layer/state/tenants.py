"""Tenants, their key sets and per-model limits in the state database.

Rows only: issuing keys (secrets, hashing, sealing) is :mod:`model_layer.auth.keystore`'s job.
Every write bumps ``state_revision`` in the same transaction, which is how other replicas learn
their caches are stale (:mod:`model_layer.state.cache`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from model_layer.state.database import Database
from model_layer.state.records import KeySetRecord, ModelLimit, TenantRecord, now_iso
from model_layer.state.schema import key_sets, model_limits, state_revision, tenants

UNSET: Any = object()  # "leave as it is", as opposed to None ("clear it")
_TENANT_FIELDS = (
    "requests_per_minute",
    "tokens_per_minute",
    "allowed_models",
    "daily_budget_usd",
    "monthly_budget_usd",
)


def bump_revision(conn: Connection) -> None:
    conn.execute(
        update(state_revision).where(state_revision.c.id == 1).values(revision=state_revision.c.revision + 1)
    )


def read_revision(conn: Connection) -> int:
    return int(conn.execute(select(state_revision.c.revision).where(state_revision.c.id == 1)).scalar_one())


class TenantStore:
    def __init__(self, db: Database):
        self.db = db

    # --- tenants -------------------------------------------------------------------------------

    def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        with self.db.read() as conn:
            return _tenant(conn, tenant_id)

    def list_tenants(self) -> list[TenantRecord]:
        with self.db.read() as conn:
            ids = conn.execute(select(tenants.c.tenant_id).order_by(tenants.c.tenant_id)).scalars().all()
            return [t for t in (_tenant(conn, i) for i in ids) if t is not None]

    def put_tenant(self, tenant_id: str, **changes: Any) -> TenantRecord:
        """Create the tenant if needed, then apply ``changes`` (fields left ``UNSET`` keep their value)."""
        values = {k: v for k, v in changes.items() if v is not UNSET}
        unknown = set(values) - set(_TENANT_FIELDS)
        if unknown:
            raise TypeError(f"unknown tenant fields: {sorted(unknown)}")
        if "allowed_models" in values and values["allowed_models"] is not None:
            values["allowed_models"] = json.dumps(sorted(set(values["allowed_models"])))
        with self.db.write() as conn:
            exists = conn.execute(select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id)).first()
            if exists is None:
                conn.execute(insert(tenants).values(tenant_id=tenant_id, created_at=now_iso(), **values))
            elif values:
                conn.execute(update(tenants).where(tenants.c.tenant_id == tenant_id).values(**values))
            bump_revision(conn)
            record = _tenant(conn, tenant_id)
        assert record is not None
        return record

    def set_model_limit(self, tenant_id: str, limit: ModelLimit) -> None:
        """Set (or, with both limits None, remove) a tenant's limits on one model."""
        with self.db.write() as conn:
            where = (model_limits.c.tenant_id == tenant_id) & (model_limits.c.model_id == limit.model_id)
            conn.execute(delete(model_limits).where(where))
            if limit.requests_per_minute is not None or limit.tokens_per_minute is not None:
                conn.execute(
                    insert(model_limits).values(
                        tenant_id=tenant_id,
                        model_id=limit.model_id,
                        requests_per_minute=limit.requests_per_minute,
                        tokens_per_minute=limit.tokens_per_minute,
                    )
                )
            bump_revision(conn)

    # --- key sets ------------------------------------------------------------------------------

    def add_key_set(
        self, record: KeySetRecord, *, replaces: str | None = None, old_expires_at: str | None = None
    ) -> None:
        """Store a new key set; with ``replaces``, mark that one as replaced and expiring (rotation)."""
        with self.db.write() as conn:
            conn.execute(insert(key_sets).values(**record.__dict__))
            if replaces is not None:
                conn.execute(
                    update(key_sets)
                    .where(key_sets.c.access_key_id == replaces)
                    .values(replaced_by=record.access_key_id, expires_at=old_expires_at)
                )
            bump_revision(conn)

    def list_key_sets(
        self, tenant_id: str | None = None, access_key_id: str | None = None
    ) -> list[KeySetRecord]:
        query = select(key_sets).order_by(key_sets.c.created_at, key_sets.c.access_key_id)
        if tenant_id is not None:
            query = query.where(key_sets.c.tenant_id == tenant_id)
        if access_key_id is not None:
            query = query.where(key_sets.c.access_key_id == access_key_id)
        with self.db.read() as conn:
            return [KeySetRecord(**row._mapping) for row in conn.execute(query)]

    def revoke(self, access_key_id: str) -> bool:
        """Revoke a key set (idempotent); False if there is no such key set."""
        with self.db.write() as conn:
            conn.execute(
                update(key_sets)
                .where((key_sets.c.access_key_id == access_key_id) & key_sets.c.revoked_at.is_(None))
                .values(revoked_at=now_iso())
            )
            bump_revision(conn)
            found = conn.execute(
                select(func.count()).where(key_sets.c.access_key_id == access_key_id)
            ).scalar_one()
        return bool(found)

    def by_access_key(self, access_key_id: str) -> KeySetRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(key_sets).where(key_sets.c.access_key_id == access_key_id)).first()
        return KeySetRecord(**row._mapping) if row else None

    def by_api_key_hash(self, sha256: str) -> KeySetRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(key_sets).where(key_sets.c.api_key_sha256 == sha256)).first()
        return KeySetRecord(**row._mapping) if row else None

    def revision(self) -> int:
        with self.db.read() as conn:
            return read_revision(conn)

    def import_rows(self, tenant_rows: Iterable[dict[str, Any]], key_rows: Iterable[dict[str, Any]]) -> int:
        """Copy tenants and key sets from a legacy ``keys.db``; returns key sets imported."""
        count = 0
        with self.db.write() as conn:
            for row in tenant_rows:
                if conn.execute(
                    select(tenants.c.tenant_id).where(tenants.c.tenant_id == row["tenant_id"])
                ).first():
                    continue
                conn.execute(insert(tenants).values(**row))
            for row in key_rows:
                where = key_sets.c.access_key_id == row["access_key_id"]
                if conn.execute(select(key_sets.c.access_key_id).where(where)).first():
                    continue
                conn.execute(insert(key_sets).values(**row))
                count += 1
            bump_revision(conn)
        return count


def _tenant(conn: Connection, tenant_id: str) -> TenantRecord | None:
    row = conn.execute(select(tenants).where(tenants.c.tenant_id == tenant_id)).first()
    if row is None:
        return None
    data = dict(row._mapping)
    allowed = data.pop("allowed_models")
    limits = conn.execute(
        select(model_limits.c.model_id, model_limits.c.requests_per_minute, model_limits.c.tokens_per_minute)
        .where(model_limits.c.tenant_id == tenant_id)
        .order_by(model_limits.c.model_id)
    )
    return TenantRecord(
        **data,
        allowed_models=tuple(json.loads(allowed)) if allowed is not None else None,
        model_limits=tuple(ModelLimit(*r) for r in limits),
    )
