"""Guardrail definitions, versions and text-unit usage in the shared state (SQLite or PostgreSQL).

Every row belongs to a tenant and every query names it: another tenant's guardrail id is not
found. Changes that must not lose each other (UpdateGuardrail against CreateGuardrailVersion,
two CreateGuardrailVersion calls) run in one write transaction that locks the guardrail's row
first (``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on PostgreSQL): a version is the
DRAFT as it was when its number was given out, and numbers are never given twice. The methods
block: callers run them off the event loop.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from model_layer.errors import ConflictException, ResourceNotFoundException
from model_layer.guardrails.schema import guardrail_usage, guardrail_versions, guardrails
from model_layer.state.database import Database
from model_layer.state.records import now_iso

_ID_ALPHABET = string.ascii_lowercase + string.digits
DRAFT = "DRAFT"


def new_guardrail_id() -> str:
    """12 lower-case letters and digits, as AWS's guardrail ids look."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


@dataclass(frozen=True)
class GuardrailRecord:
    """One guardrail at one version (``DRAFT`` or a number)."""

    tenant_id: str
    guardrail_id: str
    version: str
    name: str
    status: str
    definition: dict[str, Any]
    created_at: str
    updated_at: str
    revision: int  # the DRAFT's revision (for a numbered version: 0, it never changes)
    description: str | None = None


@dataclass(frozen=True)
class UnitsRecord:
    """Text units of one guardrail evaluation, per policy (Bedrock's GuardrailUsage)."""

    at: float
    tenant_id: str
    key_id: str
    guardrail_id: str
    guardrail_version: str
    operation: str
    source: str
    action: str
    topic_policy_units: int
    content_policy_units: int
    word_policy_units: int
    sensitive_information_policy_units: int
    sensitive_information_policy_free_units: int
    contextual_grounding_policy_units: int
    latency_ms: int
    request_id: str | None = None


class GuardrailStore:
    def __init__(self, db: Database):
        self.db = db

    # --- create / update / delete -----------------------------------------------------------------

    def create(self, tenant_id: str, definition: dict[str, Any], client_token: str | None) -> GuardrailRecord:
        """A new DRAFT; the same ``client_token`` again returns the guardrail it created."""
        if client_token:
            found = self._by_token(tenant_id, client_token)
            if found is not None:
                return found
        now = now_iso()
        row = {
            "tenant_id": tenant_id,
            "guardrail_id": new_guardrail_id(),
            "name": definition["name"],
            "status": "READY",
            "definition": json.dumps(definition),
            "created_at": now,
            "updated_at": now,
            "revision": 1,
            "last_version": 0,
            "client_token": client_token,
        }
        try:
            with self.db.write() as conn:
                conn.execute(insert(guardrails).values(**row))
        except IntegrityError:
            raise ConflictException(f"A guardrail named {definition['name']} already exists.") from None
        return _draft(row)

    def update(self, tenant_id: str, guardrail_id: str, definition: dict[str, Any]) -> GuardrailRecord:
        try:
            with self.db.write() as conn:
                row = self._locked(conn, tenant_id, guardrail_id)
                values = {
                    "name": definition["name"],
                    "definition": json.dumps(definition),
                    "updated_at": now_iso(),
                    "revision": row["revision"] + 1,
                }
                conn.execute(update(guardrails).where(_key(tenant_id, guardrail_id)).values(**values))
        except IntegrityError:
            raise ConflictException(f"A guardrail named {definition['name']} already exists.") from None
        return _draft({**row, **values})

    def create_version(
        self, tenant_id: str, guardrail_id: str, description: str | None, client_token: str | None
    ) -> str:
        """Snapshot the DRAFT as the next version number; returns it."""
        with self.db.write() as conn:
            row = self._locked(conn, tenant_id, guardrail_id)
            if client_token:
                done = conn.execute(
                    select(guardrail_versions.c.version).where(
                        _vkey(tenant_id, guardrail_id) & (guardrail_versions.c.client_token == client_token)
                    )
                ).scalar()
                if done is not None:
                    return str(done)
            number = row["last_version"] + 1
            conn.execute(update(guardrails).where(_key(tenant_id, guardrail_id)).values(last_version=number))
            conn.execute(
                insert(guardrail_versions).values(
                    tenant_id=tenant_id,
                    guardrail_id=guardrail_id,
                    version=number,
                    definition=row["definition"],
                    description=description,
                    created_at=now_iso(),
                    client_token=client_token,
                )
            )
        return str(number)

    def delete(self, tenant_id: str, guardrail_id: str, version: str | None) -> None:
        with self.db.write() as conn:
            self._locked(conn, tenant_id, guardrail_id)
            if version is None:
                conn.execute(delete(guardrail_versions).where(_vkey(tenant_id, guardrail_id)))
                conn.execute(delete(guardrails).where(_key(tenant_id, guardrail_id)))
                return
            gone = conn.execute(
                delete(guardrail_versions).where(
                    _vkey(tenant_id, guardrail_id) & (guardrail_versions.c.version == int(version))
                )
            ).rowcount
            if not gone:
                raise _not_found(guardrail_id, version)

    # --- reads --------------------------------------------------------------------------------------

    def get(self, tenant_id: str, guardrail_id: str, version: str = DRAFT) -> GuardrailRecord:
        with self.db.read() as conn:
            row = conn.execute(select(guardrails).where(_key(tenant_id, guardrail_id))).mappings().first()
            if row is None:
                raise _not_found(guardrail_id)
            if version == DRAFT:
                return _draft(row)
            snap = (
                conn.execute(
                    select(guardrail_versions).where(
                        _vkey(tenant_id, guardrail_id) & (guardrail_versions.c.version == int(version))
                    )
                )
                .mappings()
                .first()
            )
        if snap is None:
            raise _not_found(guardrail_id, version)
        return _version(row, snap)

    def list_drafts(self, tenant_id: str, offset: int, limit: int) -> tuple[list[GuardrailRecord], bool]:
        """The DRAFT of each of the tenant's guardrails, oldest first; and whether more follow."""
        query = (
            select(guardrails)
            .where(guardrails.c.tenant_id == tenant_id)
            .order_by(guardrails.c.created_at, guardrails.c.guardrail_id)
            .offset(offset)
            .limit(limit + 1)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [_draft(r) for r in rows[:limit]], len(rows) > limit

    def list_versions(
        self, tenant_id: str, guardrail_id: str, offset: int, limit: int
    ) -> tuple[list[GuardrailRecord], bool]:
        """DRAFT then every numbered version of one guardrail."""
        draft = self.get(tenant_id, guardrail_id)
        with self.db.read() as conn:
            snaps = (
                conn.execute(
                    select(guardrail_versions)
                    .where(_vkey(tenant_id, guardrail_id))
                    .order_by(guardrail_versions.c.version)
                )
                .mappings()
                .all()
            )
        row = {
            "name": draft.name,
            "status": draft.status,
            "created_at": draft.created_at,
            "updated_at": draft.updated_at,
            "tenant_id": tenant_id,
            "guardrail_id": guardrail_id,
        }
        records = [draft, *(_version(row, s) for s in snaps)]
        return records[offset : offset + limit], len(records) > offset + limit

    def draft_revision(self, tenant_id: str, guardrail_id: str) -> int | None:
        with self.db.read() as conn:
            return conn.execute(select(guardrails.c.revision).where(_key(tenant_id, guardrail_id))).scalar()

    # --- usage ------------------------------------------------------------------------------------

    def add_units(self, records: list[UnitsRecord]) -> None:
        if records:
            with self.db.write() as conn:
                conn.execute(insert(guardrail_usage), [r.__dict__ for r in records])

    def units(self, tenant_id: str) -> dict[str, int]:
        """The tenant's text units so far, per policy (and ``evaluations``)."""
        c = guardrail_usage.c
        columns = [
            c.topic_policy_units,
            c.content_policy_units,
            c.word_policy_units,
            c.sensitive_information_policy_units,
            c.sensitive_information_policy_free_units,
            c.contextual_grounding_policy_units,
        ]
        with self.db.read() as conn:
            row = conn.execute(
                select(func.count(), *(func.coalesce(func.sum(col), 0) for col in columns)).where(
                    c.tenant_id == tenant_id
                )
            ).one()
        return {
            "evaluations": int(row[0]),
            **{col.name: int(v) for col, v in zip(columns, row[1:], strict=True)},
        }

    # --- helpers ----------------------------------------------------------------------------------

    def _locked(self, conn: Connection, tenant_id: str, guardrail_id: str) -> dict[str, Any]:
        query = select(guardrails).where(_key(tenant_id, guardrail_id))
        if self.db.dialect == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).mappings().first()
        if row is None:
            raise _not_found(guardrail_id)
        return dict(row)

    def _by_token(self, tenant_id: str, token: str) -> GuardrailRecord | None:
        with self.db.read() as conn:
            row = (
                conn.execute(
                    select(guardrails).where(
                        (guardrails.c.tenant_id == tenant_id) & (guardrails.c.client_token == token)
                    )
                )
                .mappings()
                .first()
            )
        return _draft(row) if row is not None else None


def _key(tenant_id: str, guardrail_id: str):
    return (guardrails.c.tenant_id == tenant_id) & (guardrails.c.guardrail_id == guardrail_id)


def _vkey(tenant_id: str, guardrail_id: str):
    return (guardrail_versions.c.tenant_id == tenant_id) & (guardrail_versions.c.guardrail_id == guardrail_id)


def _not_found(guardrail_id: str, version: str | None = None) -> ResourceNotFoundException:
    if version is None:
        return ResourceNotFoundException(f"The guardrail {guardrail_id} was not found.")
    return ResourceNotFoundException(f"Version {version} of the guardrail {guardrail_id} was not found.")


def _draft(row: Any) -> GuardrailRecord:
    definition = row["definition"]
    definition = json.loads(definition) if isinstance(definition, str) else definition
    return GuardrailRecord(
        tenant_id=row["tenant_id"],
        guardrail_id=row["guardrail_id"],
        version=DRAFT,
        name=row["name"],
        status=row["status"],
        definition=definition,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        revision=row["revision"],
        description=definition.get("description"),
    )


def _version(row: Any, snap: Any) -> GuardrailRecord:
    definition = json.loads(snap["definition"])
    return GuardrailRecord(
        tenant_id=row["tenant_id"],
        guardrail_id=row["guardrail_id"],
        version=str(snap["version"]),
        name=definition["name"],
        status="READY",
        definition=definition,
        created_at=row["created_at"],
        updated_at=snap["created_at"],
        revision=0,
        description=snap["description"] or definition.get("description"),
    )
