"""Agent sessions and session-summary memory in the shared state.

A session is one conversation with an agent, keyed by (tenant, agent, sessionId): the caller picks
the id, as on Bedrock. An invocation *acquires* the session (one transaction: create it, or reset
it when it sat idle longer than the agent's ``idleSessionTTLInSeconds``, and take a lease), runs,
then *saves* it (new state, lease released). While the lease is held, a second invocation of the
same session is a ``ConflictException``; a lease left by a replica that died expires on its own.
A session that expired is handed back to the caller (``SessionRecord.expired``) so its summary can
go to memory.

Memory (``memoryConfiguration`` SESSION_SUMMARY): summaries of ended sessions, kept per
(tenant, agent, memoryId) until ``storageDays`` pass, newest first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from model_layer.agents import schema as t
from model_layer.agents.records import MemoryRecord, SessionRecord
from model_layer.errors import ConflictException
from model_layer.state.database import Database


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def fresh_state() -> dict[str, Any]:
    return {"sessionAttributes": {}, "turns": [], "pending": None}


class SessionStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        self.db = db
        self.clock = clock

    def acquire(
        self,
        tenant_id: str,
        agent_key: str,
        session_id: str,
        *,
        alias_id: str | None,
        memory_id: str | None,
        idle_ttl_s: float,
        lease_s: float,
    ) -> SessionRecord:
        now = self.clock()
        s = t.agent_sessions.c
        key = and_(s.tenant_id == tenant_id, s.agent_id == agent_key, s.session_id == session_id)
        with self.db.write() as conn:
            row = conn.execute(select(t.agent_sessions).where(key)).first()
            if row is not None and row.lease_until > now:
                raise ConflictException(
                    f"Session {session_id} is processing another request. Retry when that request "
                    "has finished."
                )
            expired = None
            if row is not None and now - row.updated_at > idle_ttl_s:
                expired = _session(row)
                row = None
                conn.execute(delete(t.agent_sessions).where(key))
            if row is None:
                record = SessionRecord(
                    tenant_id,
                    agent_key,
                    session_id,
                    alias_id,
                    memory_id,
                    fresh_state(),
                    now,
                    now,
                    True,
                    expired,
                )
                conn.execute(
                    insert(t.agent_sessions).values(
                        tenant_id=tenant_id,
                        agent_id=agent_key,
                        session_id=session_id,
                        alias_id=alias_id,
                        memory_id=memory_id,
                        state=_dumps(record.state),
                        started_at=now,
                        updated_at=now,
                        lease_until=now + lease_s,
                    )
                )
                return record
            conn.execute(update(t.agent_sessions).where(key).values(lease_until=now + lease_s))
            record = _session(row)
            record.memory_id = memory_id or record.memory_id
            record.alias_id = alias_id
            return record

    def save(self, record: SessionRecord) -> None:
        """Store the session's new state and release its lease."""
        s = t.agent_sessions.c
        key = and_(
            s.tenant_id == record.tenant_id, s.agent_id == record.agent_key, s.session_id == record.session_id
        )
        with self.db.write() as conn:
            conn.execute(
                update(t.agent_sessions)
                .where(key)
                .values(
                    state=_dumps(record.state),
                    alias_id=record.alias_id,
                    memory_id=record.memory_id,
                    updated_at=self.clock(),
                    lease_until=0.0,
                )
            )

    def release(self, record: SessionRecord) -> None:
        """Release the lease without changing the state (the invocation failed or was cut off)."""
        s = t.agent_sessions.c
        key = and_(
            s.tenant_id == record.tenant_id, s.agent_id == record.agent_key, s.session_id == record.session_id
        )
        with self.db.write() as conn:
            conn.execute(update(t.agent_sessions).where(key).values(lease_until=0.0))

    def end(self, record: SessionRecord) -> None:
        s = t.agent_sessions.c
        key = and_(
            s.tenant_id == record.tenant_id, s.agent_id == record.agent_key, s.session_id == record.session_id
        )
        with self.db.write() as conn:
            conn.execute(delete(t.agent_sessions).where(key))

    # --- memory ----------------------------------------------------------------------------------

    def add_summary(
        self,
        tenant_id: str,
        agent_id: str,
        memory_id: str,
        session_id: str,
        summary: str,
        started_at: float,
        keep_days: int,
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                insert(t.agent_memories).values(
                    tenant_id=tenant_id,
                    agent_id=agent_id,
                    memory_id=memory_id,
                    session_id=session_id,
                    summary=summary,
                    session_started_at=started_at,
                    expires_at=self.clock() + keep_days * 86400,
                )
            )

    def summaries(
        self, tenant_id: str, agent_id: str, memory_id: str, *, offset: int = 0, limit: int = 100
    ) -> list[MemoryRecord]:
        m = t.agent_memories.c
        query = (
            select(t.agent_memories)
            .where(
                m.tenant_id == tenant_id,
                m.agent_id == agent_id,
                m.memory_id == memory_id,
                m.expires_at > self.clock(),
            )
            .order_by(m.session_started_at.desc(), m.id.desc())
            .offset(offset)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [
                MemoryRecord(r.memory_id, r.session_id, r.summary, r.session_started_at, r.expires_at)
                for r in conn.execute(query)
            ]

    def delete_memory(
        self, tenant_id: str, agent_id: str, memory_id: str | None, session_id: str | None
    ) -> int:
        m = t.agent_memories.c
        where = [m.tenant_id == tenant_id, m.agent_id == agent_id]
        if memory_id is not None:
            where.append(m.memory_id == memory_id)
        if session_id is not None:
            where.append(m.session_id == session_id)
        with self.db.write() as conn:
            return conn.execute(delete(t.agent_memories).where(*where)).rowcount


def _session(row: Any) -> SessionRecord:
    return SessionRecord(
        tenant_id=row.tenant_id,
        agent_key=row.agent_id,
        session_id=row.session_id,
        alias_id=row.alias_id,
        memory_id=row.memory_id,
        state=json.loads(row.state),
        started_at=row.started_at,
        updated_at=row.updated_at,
    )
