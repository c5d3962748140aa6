"""Agent definitions in the shared state: agents, action groups, knowledge-base links, versions, aliases.

Every method takes the tenant and filters on it, so another tenant's id is a
``ResourceNotFoundException`` like an id that never existed. Methods are blocking (SQLAlchemy
Core over SQLite or PostgreSQL); the async callers run them with ``asyncio.to_thread``. Writes go
through ``Database.write()`` (``BEGIN IMMEDIATE`` on SQLite), so a check-then-insert (unique
names) is one transaction on either backend.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, delete, insert, select, update

from model_layer.agents import schema as t
from model_layer.agents.records import (
    ActionGroupRecord,
    AgentRecord,
    AliasRecord,
    KnowledgeBaseLink,
    VersionRecord,
    new_id,
)
from model_layer.errors import ConflictException, ResourceNotFoundException
from model_layer.state.database import Database

NOT_FOUND = (
    "Failed to retrieve resource because it doesn't exist. Retry the request with a different "
    "resource identifier."
)


R = TypeVar("R")  # a record type


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def not_found(what: str, ident: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"{what} {ident} not found. {NOT_FOUND}")


class AgentStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        self.db = db
        self.clock = clock

    # --- agents ----------------------------------------------------------------------------------

    def create_agent(
        self, tenant_id: str, name: str, body: dict[str, Any], client_token: str | None
    ) -> AgentRecord:
        now = self.clock()
        with self.db.write() as conn:
            if client_token:
                # botocore fills clientToken in: a retried CreateAgent returns the agent it made
                same = conn.execute(
                    select(t.agents).where(
                        t.agents.c.tenant_id == tenant_id, t.agents.c.client_token == client_token
                    )
                ).first()
                if same is not None:
                    return _agent(same)
            self._check_agent_name(conn, tenant_id, name, None)
            agent_id = new_id()
            conn.execute(
                insert(t.agents).values(
                    agent_id=agent_id,
                    tenant_id=tenant_id,
                    agent_name=name,
                    status="NOT_PREPARED",
                    client_token=client_token,
                    body=_dumps(body),
                    prepared=None,
                    latest_version=0,
                    created_at=now,
                    updated_at=now,
                    prepared_at=None,
                )
            )
        return self.get_agent(tenant_id, agent_id)

    def _check_agent_name(self, conn: Connection, tenant_id: str, name: str, agent_id: str | None) -> None:
        query = select(t.agents.c.agent_id).where(
            t.agents.c.tenant_id == tenant_id, t.agents.c.agent_name == name
        )
        other = conn.execute(query).scalar()
        if other is not None and other != agent_id:
            raise ConflictException(
                f"Cannot use agentName {name}: an agent with the same name already exists."
            )

    def get_agent(self, tenant_id: str, agent_id: str) -> AgentRecord:
        with self.db.read() as conn:
            return self._agent_row(conn, tenant_id, agent_id)

    def _agent_row(self, conn: Connection, tenant_id: str, agent_id: str) -> AgentRecord:
        row = conn.execute(
            select(t.agents).where(t.agents.c.tenant_id == tenant_id, t.agents.c.agent_id == agent_id)
        ).first()
        if row is None:
            raise not_found("Agent", agent_id)
        return _agent(row)

    def list_agents(self, tenant_id: str, offset: int, limit: int) -> list[AgentRecord]:
        query = (
            select(t.agents)
            .where(t.agents.c.tenant_id == tenant_id)
            .order_by(t.agents.c.created_at, t.agents.c.agent_id)
            .offset(offset)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [_agent(row) for row in conn.execute(query)]

    def update_agent(self, tenant_id: str, agent_id: str, name: str, body: dict[str, Any]) -> AgentRecord:
        with self.db.write() as conn:
            self._agent_row(conn, tenant_id, agent_id)
            self._check_agent_name(conn, tenant_id, name, agent_id)
            conn.execute(
                update(t.agents)
                .where(t.agents.c.agent_id == agent_id)
                .values(agent_name=name, body=_dumps(body), status="NOT_PREPARED", updated_at=self.clock())
            )
        return self.get_agent(tenant_id, agent_id)

    def draft_changed(self, conn: Connection, tenant_id: str, agent_id: str) -> None:
        """A change to the DRAFT (action groups, knowledge bases) needs a new PrepareAgent."""
        self._agent_row(conn, tenant_id, agent_id)
        conn.execute(
            update(t.agents)
            .where(t.agents.c.agent_id == agent_id)
            .values(status="NOT_PREPARED", updated_at=self.clock())
        )

    def delete_agent(self, tenant_id: str, agent_id: str) -> None:
        with self.db.write() as conn:
            self._agent_row(conn, tenant_id, agent_id)
            for table in (t.agent_action_groups, t.agent_knowledge_bases, t.agent_versions, t.agent_aliases):
                conn.execute(
                    delete(table).where(table.c.tenant_id == tenant_id, table.c.agent_id == agent_id)
                )
            for table in (t.agent_sessions, t.agent_memories):
                conn.execute(
                    delete(table).where(table.c.tenant_id == tenant_id, table.c.agent_id == agent_id)
                )
            conn.execute(delete(t.agents).where(t.agents.c.agent_id == agent_id))

    def set_prepared(self, tenant_id: str, agent_id: str, snapshot: dict[str, Any], at: float) -> AgentRecord:
        with self.db.write() as conn:
            self._agent_row(conn, tenant_id, agent_id)
            conn.execute(
                update(t.agents)
                .where(t.agents.c.agent_id == agent_id)
                .values(status="PREPARED", prepared=_dumps(snapshot), prepared_at=at, updated_at=at)
            )
        return self.get_agent(tenant_id, agent_id)

    def snapshot_draft(self, tenant_id: str, agent_id: str) -> tuple[AgentRecord, list, list]:
        """The DRAFT as one consistent read: the agent, its action groups and knowledge bases."""
        with self.db.read() as conn:
            agent = self._agent_row(conn, tenant_id, agent_id)
            return (
                agent,
                self._action_groups(conn, tenant_id, agent_id),
                self._knowledge_bases(conn, tenant_id, agent_id),
            )

    # --- action groups ---------------------------------------------------------------------------

    def create_action_group(
        self, tenant_id: str, agent_id: str, name: str, body: dict[str, Any]
    ) -> ActionGroupRecord:
        now = self.clock()
        group_id = new_id()
        with self.db.write() as conn:
            self.draft_changed(conn, tenant_id, agent_id)
            self._check_group_name(conn, tenant_id, agent_id, name, None)
            conn.execute(
                insert(t.agent_action_groups).values(
                    action_group_id=group_id,
                    agent_id=agent_id,
                    tenant_id=tenant_id,
                    action_group_name=name,
                    body=_dumps(body),
                    created_at=now,
                    updated_at=now,
                )
            )
        return self.get_action_group(tenant_id, agent_id, group_id)

    def _check_group_name(
        self, conn: Connection, tenant_id: str, agent_id: str, name: str, group_id: str | None
    ) -> None:
        g = t.agent_action_groups.c
        other = conn.execute(
            select(g.action_group_id).where(
                g.tenant_id == tenant_id, g.agent_id == agent_id, g.action_group_name == name
            )
        ).scalar()
        if other is not None and other != group_id:
            raise ConflictException(
                f"Cannot use actionGroupName {name}: the agent already has an action group with this name."
            )

    def _of_agent(
        self, tenant_id: str, agent_id: str, rows: Callable[[Connection, str, str], list[R]]
    ) -> list[R]:
        """``rows`` (action groups, knowledge bases, aliases) of an agent that exists (404 if not)."""
        with self.db.read() as conn:
            self._agent_row(conn, tenant_id, agent_id)
            return rows(conn, tenant_id, agent_id)

    def get_action_group(self, tenant_id: str, agent_id: str, group_id: str) -> ActionGroupRecord:
        groups = self._of_agent(tenant_id, agent_id, self._action_groups)
        return _find(groups, lambda g: g.action_group_id == group_id, "Action group", group_id)

    def list_action_groups(self, tenant_id: str, agent_id: str) -> list[ActionGroupRecord]:
        return self._of_agent(tenant_id, agent_id, self._action_groups)

    def _action_groups(self, conn: Connection, tenant_id: str, agent_id: str) -> list[ActionGroupRecord]:
        rows = _child_rows(conn, t.agent_action_groups, tenant_id, agent_id, "action_group_id")
        return [
            ActionGroupRecord(
                r.action_group_id,
                r.agent_id,
                r.action_group_name,
                json.loads(r.body),
                r.created_at,
                r.updated_at,
            )
            for r in rows
        ]

    def update_action_group(
        self, tenant_id: str, agent_id: str, group_id: str, name: str, body: dict[str, Any]
    ) -> ActionGroupRecord:
        g = t.agent_action_groups.c
        with self.db.write() as conn:
            self.draft_changed(conn, tenant_id, agent_id)
            self._check_group_name(conn, tenant_id, agent_id, name, group_id)
            result = conn.execute(
                update(t.agent_action_groups)
                .where(g.tenant_id == tenant_id, g.agent_id == agent_id, g.action_group_id == group_id)
                .values(action_group_name=name, body=_dumps(body), updated_at=self.clock())
            )
            if result.rowcount == 0:
                raise not_found("Action group", group_id)
        return self.get_action_group(tenant_id, agent_id, group_id)

    def delete_action_group(self, tenant_id: str, agent_id: str, group_id: str) -> None:
        g = t.agent_action_groups.c
        with self.db.write() as conn:
            self.draft_changed(conn, tenant_id, agent_id)
            result = conn.execute(
                delete(t.agent_action_groups).where(
                    g.tenant_id == tenant_id, g.agent_id == agent_id, g.action_group_id == group_id
                )
            )
            if result.rowcount == 0:
                raise not_found("Action group", group_id)

    # --- knowledge-base associations -----------------------------------------------------------------

    def associate_knowledge_base(
        self, tenant_id: str, agent_id: str, kb_id: str, description: str, state: str
    ) -> KnowledgeBaseLink:
        now = self.clock()
        with self.db.write() as conn:
            self.draft_changed(conn, tenant_id, agent_id)
            if any(
                link.knowledge_base_id == kb_id for link in self._knowledge_bases(conn, tenant_id, agent_id)
            ):
                raise ConflictException(
                    f"Knowledge base {kb_id} is already associated with agent {agent_id}."
                )
            conn.execute(
                insert(t.agent_knowledge_bases).values(
                    agent_id=agent_id,
                    knowledge_base_id=kb_id,
                    tenant_id=tenant_id,
                    description=description,
                    state=state,
                    created_at=now,
                    updated_at=now,
                )
            )
        return self.get_knowledge_base(tenant_id, agent_id, kb_id)

    def get_knowledge_base(self, tenant_id: str, agent_id: str, kb_id: str) -> KnowledgeBaseLink:
        links = self._of_agent(tenant_id, agent_id, self._knowledge_bases)
        return _find(links, lambda link: link.knowledge_base_id == kb_id, "Knowledge base", kb_id)

    def list_knowledge_bases(self, tenant_id: str, agent_id: str) -> list[KnowledgeBaseLink]:
        return self._of_agent(tenant_id, agent_id, self._knowledge_bases)

    def _knowledge_bases(self, conn: Connection, tenant_id: str, agent_id: str) -> list[KnowledgeBaseLink]:
        rows = _child_rows(conn, t.agent_knowledge_bases, tenant_id, agent_id, "knowledge_base_id")
        return [
            KnowledgeBaseLink(
                r.agent_id, r.knowledge_base_id, r.description, r.state, r.created_at, r.updated_at
            )
            for r in rows
        ]

    def update_knowledge_base(
        self, tenant_id: str, agent_id: str, kb_id: str, description: str | None, state: str | None
    ) -> KnowledgeBaseLink:
        k = t.agent_knowledge_bases.c
        values: dict[str, Any] = {"updated_at": self.clock()}
        if description is not None:
            values["description"] = description
        if state is not None:
            values["state"] = state
        with self.db.write() as conn:
            self.draft_changed(conn, tenant_id, agent_id)
            where = and_(k.tenant_id == tenant_id, k.agent_id == agent_id, k.knowledge_base_id == kb_id)
            if conn.execute(update(t.agent_knowledge_bases).where(where).values(**values)).rowcount == 0:
                raise not_found("Knowledge base", kb_id)
        return self.get_knowledge_base(tenant_id, agent_id, kb_id)

    def disassociate_knowledge_base(self, tenant_id: str, agent_id: str, kb_id: str) -> None:
        k = t.agent_knowledge_bases.c
        with self.db.write() as conn:
            self.draft_changed(conn, tenant_id, agent_id)
            where = and_(k.tenant_id == tenant_id, k.agent_id == agent_id, k.knowledge_base_id == kb_id)
            if conn.execute(delete(t.agent_knowledge_bases).where(where)).rowcount == 0:
                raise not_found("Knowledge base", kb_id)

    # --- versions --------------------------------------------------------------------------------

    def create_version(self, tenant_id: str, agent_id: str, snapshot: dict[str, Any]) -> int:
        with self.db.write() as conn:
            agent = self._agent_row(conn, tenant_id, agent_id)
            version = agent.latest_version + 1
            conn.execute(
                insert(t.agent_versions).values(
                    agent_id=agent_id,
                    version=version,
                    tenant_id=tenant_id,
                    snapshot=_dumps(snapshot),
                    created_at=self.clock(),
                )
            )
            conn.execute(
                update(t.agents).where(t.agents.c.agent_id == agent_id).values(latest_version=version)
            )
        return version

    def get_version(self, tenant_id: str, agent_id: str, version: int) -> VersionRecord:
        v = t.agent_versions.c
        with self.db.read() as conn:
            self._agent_row(conn, tenant_id, agent_id)
            row = conn.execute(
                select(t.agent_versions).where(
                    v.tenant_id == tenant_id, v.agent_id == agent_id, v.version == version
                )
            ).first()
        if row is None:
            raise not_found(f"Version {version} of agent", agent_id)
        return VersionRecord(row.agent_id, row.version, json.loads(row.snapshot), row.created_at)

    def list_versions(self, tenant_id: str, agent_id: str) -> list[VersionRecord]:
        v = t.agent_versions.c
        with self.db.read() as conn:
            self._agent_row(conn, tenant_id, agent_id)
            rows = conn.execute(
                select(t.agent_versions)
                .where(v.tenant_id == tenant_id, v.agent_id == agent_id)
                .order_by(v.version)
            )
            return [VersionRecord(r.agent_id, r.version, json.loads(r.snapshot), r.created_at) for r in rows]

    def delete_version(self, tenant_id: str, agent_id: str, version: int) -> None:
        v = t.agent_versions.c
        with self.db.write() as conn:
            self._agent_row(conn, tenant_id, agent_id)
            for alias in self._aliases(conn, tenant_id, agent_id):
                routed = [r.get("agentVersion") for r in alias.body.get("routingConfiguration", [])]
                if str(version) in routed:
                    raise ConflictException(
                        f"Cannot delete version {version}: alias {alias.alias_id} routes to it "
                        "(use skipResourceInUseCheck to delete it anyway)"
                    )
            where = and_(v.tenant_id == tenant_id, v.agent_id == agent_id, v.version == version)
            if conn.execute(delete(t.agent_versions).where(where)).rowcount == 0:
                raise not_found(f"Version {version} of agent", agent_id)

    # --- aliases ---------------------------------------------------------------------------------

    def create_alias(self, tenant_id: str, agent_id: str, name: str, body: dict[str, Any]) -> AliasRecord:
        now = self.clock()
        alias_id = new_id()
        with self.db.write() as conn:
            self._agent_row(conn, tenant_id, agent_id)
            self._check_alias_name(conn, tenant_id, agent_id, name, None)
            conn.execute(
                insert(t.agent_aliases).values(
                    alias_id=alias_id,
                    agent_id=agent_id,
                    tenant_id=tenant_id,
                    alias_name=name,
                    body=_dumps(body),
                    created_at=now,
                    updated_at=now,
                )
            )
        return self.get_alias(tenant_id, agent_id, alias_id)

    def _check_alias_name(
        self, conn: Connection, tenant_id: str, agent_id: str, name: str, alias_id: str | None
    ) -> None:
        if any(a.name == name and a.alias_id != alias_id for a in self._aliases(conn, tenant_id, agent_id)):
            raise ConflictException(
                f"Cannot use agentAliasName {name}: the agent already has an alias with this name."
            )

    def get_alias(self, tenant_id: str, agent_id: str, alias_id: str) -> AliasRecord:
        aliases = self._of_agent(tenant_id, agent_id, self._aliases)
        return _find(aliases, lambda a: a.alias_id == alias_id, "Agent alias", alias_id)

    def list_aliases(self, tenant_id: str, agent_id: str) -> list[AliasRecord]:
        return self._of_agent(tenant_id, agent_id, self._aliases)

    def _aliases(self, conn: Connection, tenant_id: str, agent_id: str) -> list[AliasRecord]:
        rows = _child_rows(conn, t.agent_aliases, tenant_id, agent_id, "alias_id")
        return [
            AliasRecord(r.alias_id, r.agent_id, r.alias_name, json.loads(r.body), r.created_at, r.updated_at)
            for r in rows
        ]

    def update_alias(
        self, tenant_id: str, agent_id: str, alias_id: str, name: str, body: dict[str, Any]
    ) -> AliasRecord:
        a = t.agent_aliases.c
        with self.db.write() as conn:
            self._agent_row(conn, tenant_id, agent_id)
            self._check_alias_name(conn, tenant_id, agent_id, name, alias_id)
            where = and_(a.tenant_id == tenant_id, a.agent_id == agent_id, a.alias_id == alias_id)
            values = {"alias_name": name, "body": _dumps(body), "updated_at": self.clock()}
            if conn.execute(update(t.agent_aliases).where(where).values(**values)).rowcount == 0:
                raise not_found("Agent alias", alias_id)
        return self.get_alias(tenant_id, agent_id, alias_id)

    def delete_alias(self, tenant_id: str, agent_id: str, alias_id: str) -> None:
        a = t.agent_aliases.c
        with self.db.write() as conn:
            self._agent_row(conn, tenant_id, agent_id)
            where = and_(a.tenant_id == tenant_id, a.agent_id == agent_id, a.alias_id == alias_id)
            if conn.execute(delete(t.agent_aliases).where(where)).rowcount == 0:
                raise not_found("Agent alias", alias_id)


def _child_rows(conn: Connection, table: Any, tenant_id: str, agent_id: str, id_column: str) -> Any:
    """An agent's rows of ``table`` (action groups, knowledge bases, aliases), oldest first."""
    c = table.c
    return conn.execute(
        select(table)
        .where(c.tenant_id == tenant_id, c.agent_id == agent_id)
        .order_by(c.created_at, c[id_column])
    )


def _find(items: list[R], matches: Callable[[R], bool], what: str, ident: str) -> R:
    """The first of ``items`` that ``matches``; ResourceNotFoundException (``what`` ``ident``) if none."""
    for item in items:
        if matches(item):
            return item
    raise not_found(what, ident)


def _agent(row: Any) -> AgentRecord:
    return AgentRecord(
        agent_id=row.agent_id,
        tenant_id=row.tenant_id,
        name=row.agent_name,
        status=row.status,
        body=json.loads(row.body),
        prepared=json.loads(row.prepared) if row.prepared else None,
        latest_version=row.latest_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        prepared_at=row.prepared_at,
    )
