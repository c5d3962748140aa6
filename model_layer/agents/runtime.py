"""The bedrock-agent-runtime side of agents: InvokeAgent, InvokeInlineAgent, GetAgentMemory,
DeleteAgentMemory.

An invocation is checked completely before the first byte goes out (agent, alias, preparation,
model access, the session's lease, the return-of-control results), so every client mistake is an
ordinary HTTP error in bedrock-agent-runtime's shape; what happens after is streamed
(:class:`Started.events`). When the stream ends the session is saved (or, with ``endSession``,
summarized into memory and closed); an invocation that failed or was cut off releases the session
without changing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from model_layer.agents import definitions, traces
from model_layer.agents.catalog import build_catalog
from model_layer.agents.control import NOT_PREPARED, AgentsControl
from model_layer.agents.events import AgentEvent
from model_layer.agents.orchestration import AgentRun, Orchestrator
from model_layer.agents.records import DRAFT, INLINE_AGENT, TEST_ALIAS_ID, SessionRecord
from model_layer.agents.resume import resume_messages
from model_layer.agents.sessions import SessionStore
from model_layer.agents.settings import AgentSettings
from model_layer.agents.store import AgentStore
from model_layer.agents.wire import page_start, page_token
from model_layer.errors import ConflictException, ValidationException
from model_layer.types import Tenant

log = logging.getLogger("strata.agents")
DEFAULT_MEMORY_DAYS = 30
DEFAULT_RECENT_SESSIONS = 20
_INLINE_AGENT_FIELDS = (
    "instruction",
    "foundationModel",
    "idleSessionTTLInSeconds",
    "promptOverrideConfiguration",
    "guardrailConfiguration",
    "orchestrationType",
    "agentCollaboration",
)


@dataclass
class Started:
    """An invocation that passed every check: its headers' values and its event stream."""

    session_id: str
    memory_id: str | None
    events: AsyncIterator[AgentEvent]
    run: AgentRun


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return asyncio.to_thread(fn, *args, **kwargs)


class AgentsRuntime:
    def __init__(
        self,
        store: AgentStore,
        sessions: SessionStore,
        orchestrator: Orchestrator,
        control: AgentsControl,
        settings: AgentSettings,
    ):
        self.store, self.sessions, self.orchestrator = store, sessions, orchestrator
        self.control, self.settings = control, settings

    # --- InvokeAgent -----------------------------------------------------------------------------

    async def invoke_agent(
        self,
        tenant: Tenant,
        agent_id: str,
        alias_id: str,
        session_id: str,
        request: dict[str, Any],
        request_id: str | None,
    ) -> Started:
        snapshot, version = await self._target(tenant, agent_id, alias_id)
        agent = snapshot["agent"]
        self.control.service.get_model(agent["foundationModel"], tenant)  # access, before the stream
        identity = {"name": agent.get("agentName", ""), "id": agent_id, "alias": alias_id, "version": version}
        memory_id = request.get("memoryId") if _memory(agent) else None
        return await self._start(
            tenant, agent_id, identity, snapshot, session_id, memory_id, request, request_id
        )

    async def _target(self, tenant: Tenant, agent_id: str, alias_id: str) -> tuple[dict[str, Any], str]:
        """The snapshot an alias runs, and its version."""
        record = await _run(self.store.get_agent, tenant.tenant_id, agent_id)
        if alias_id == TEST_ALIAS_ID:
            if record.prepared is None:
                raise ConflictException(NOT_PREPARED.format(op="InvokeAgent", agent_id=agent_id))
            return record.prepared, DRAFT
        alias = await _run(self.store.get_alias, tenant.tenant_id, agent_id, alias_id)
        if alias.body.get("aliasInvocationState") == "REJECT_INVOCATIONS":
            raise ValidationException(f"agentAliasId: alias {alias_id} is set to reject invocations")
        routing = alias.body.get("routingConfiguration") or []
        if not routing:
            raise ConflictException(f"agentAliasId: alias {alias_id} routes to no version")
        version = routing[0]["agentVersion"]
        found = await _run(self.store.get_version, tenant.tenant_id, agent_id, int(version))
        return found.snapshot, version

    # --- InvokeInlineAgent -----------------------------------------------------------------------

    async def invoke_inline_agent(
        self, tenant: Tenant, session_id: str, request: dict[str, Any], request_id: str | None
    ) -> Started:
        snapshot = await self._inline_snapshot(tenant, request)
        identity = {
            "name": request.get("agentName", "InlineAgent"),
            "id": INLINE_AGENT,
            "alias": "",
            "version": DRAFT,
        }
        state = request.get("inlineSessionState")
        body = {**request, "sessionState": state} if state is not None else request
        return await self._start(
            tenant, INLINE_AGENT, identity, snapshot, session_id, None, body, request_id, "inlineSessionState"
        )

    async def _inline_snapshot(self, tenant: Tenant, request: dict[str, Any]) -> dict[str, Any]:
        for key in ("collaborators", "collaboratorConfigurations", "customOrchestration"):
            if request.get(key):
                raise ValidationException(f"{key} is not supported by this gateway")
        agent = definitions.agent_body({k: request[k] for k in _INLINE_AGENT_FIELDS if k in request})
        agent["agentName"] = request.get("agentName", "InlineAgent")
        groups = []
        for i, group in enumerate(request.get("actionGroups") or [], start=1):
            try:
                body = await _run(
                    definitions.action_group_body,
                    group,
                    self.settings,
                    self.control.functions,
                    self.control.fetch_s3,
                )
            except ValidationException as exc:
                raise ValidationException(f"actionGroups.{i}.member: {exc.message}") from None
            groups.append({"actionGroupId": f"INLINE{i:04d}", **body})
        names = [g["actionGroupName"] for g in groups]
        if len(set(names)) != len(names):
            raise ValidationException("actionGroups: action group names must be unique")
        kbs = [
            {"knowledgeBaseState": "ENABLED", **{k: v for k, v in kb.items()}}
            for kb in request.get("knowledgeBases") or []
        ]
        await self.control.check_runnable(tenant, agent, groups, [kb["knowledgeBaseId"] for kb in kbs])
        return {"agent": agent, "actionGroups": groups, "knowledgeBases": kbs}

    # --- shared ----------------------------------------------------------------------------------

    async def _start(
        self,
        tenant: Tenant,
        agent_key: str,
        identity: dict[str, str],
        snapshot: dict[str, Any],
        session_id: str,
        memory_id: str | None,
        request: dict[str, Any],
        request_id: str | None,
        state_field: str = "sessionState",
    ) -> Started:
        state = request.get("sessionState") or {}
        if state.get("files"):
            raise ValidationException(f"{state_field}.files is not supported by this gateway")
        results = state.get("returnControlInvocationResults")
        text = request.get("inputText") or ""
        if not text and not results and not request.get("endSession"):
            raise ValidationException(
                f"inputText: give the user's input, or {state_field}.returnControlInvocationResults"
            )
        catalog = build_catalog(snapshot)
        kb_configs = _kb_configurations(state, snapshot)
        agent = snapshot["agent"]
        session = await _run(
            self.sessions.acquire,
            tenant.tenant_id,
            agent_key,
            session_id,
            alias_id=identity.get("alias") or None,
            memory_id=memory_id,
            idle_ttl_s=agent.get("idleSessionTTLInSeconds", definitions.DEFAULT_IDLE_TTL_S),
            lease_s=self.settings.session_lease_s,
        )
        try:
            run = self._run_for(tenant, identity, snapshot, catalog, session, request, state, kb_configs)
            if results:
                run.resume, run.references, run.input_text = resume_messages(
                    session, state, session_id, state_field
                )
            run.request_id = request_id
        except BaseException:
            await asyncio.shield(_run(self.sessions.release, session))
            raise
        events = self._stream(run, bool(request.get("endSession")), bool(text or results))
        return Started(session_id, session.memory_id, events, run)

    def _run_for(self, tenant, identity, snapshot, catalog, session, request, state, kb_configs) -> AgentRun:
        if state.get("sessionAttributes") is not None:
            session.state["sessionAttributes"] = dict(state["sessionAttributes"])
        if session.state.get("pending") and not state.get("returnControlInvocationResults"):
            session.state["pending"] = None  # the user moved on instead of answering the calls
        history = (state.get("conversationHistory") or {}).get("messages")
        if history:
            session.state["turns"] = _turns_from_history(history)
        return AgentRun(
            tenant=tenant,
            identity=identity,
            agent=snapshot["agent"],
            catalog=catalog,
            session=session,
            input_text=request.get("inputText") or "",
            enable_trace=bool(request.get("enableTrace")),
            prompt_session_attributes=dict(state.get("promptSessionAttributes") or {}),
            kb_configurations=kb_configs,
        )

    async def _stream(self, run: AgentRun, end_session: bool, has_input: bool) -> AsyncIterator[AgentEvent]:
        session, settled = run.session, False
        try:
            if session.expired is not None:
                await self._remember(run, session.expired)
            if session.is_new and session.memory_id and _memory(run.agent):
                # after the expired session's summary, so a session that timed out is remembered
                run.memory = await self._memories(
                    run.tenant, run.identity["id"], session.memory_id, run.agent
                )
            if has_input:
                async for event in self.orchestrator.invoke(run):
                    yield event
            if end_session:
                await self._remember(run, session)
                await _run(self.sessions.end, session)
            else:
                await _run(self.sessions.save, session)
            settled = True
        finally:
            if not settled:
                await asyncio.shield(_run(self.sessions.release, session))

    async def _remember(self, run: AgentRun, session: SessionRecord) -> None:
        """Summarize an ended session into its memory (when the agent keeps memory)."""
        memory = _memory(run.agent)
        turns = session.state.get("turns") or []
        if memory is None or not session.memory_id or not turns or session.agent_key == INLINE_AGENT:
            return
        try:
            summary = await self.orchestrator.summarize(run.tenant, run.agent, turns)
        except Exception:  # memory is best effort: the turn the client asked for has been answered
            log.warning("could not summarize session %s into memory", session.session_id, exc_info=True)
            return
        days = memory.get("storageDays") or DEFAULT_MEMORY_DAYS
        await _run(
            self.sessions.add_summary,
            run.tenant.tenant_id,
            session.agent_key,
            session.memory_id,
            session.session_id,
            summary,
            session.started_at,
            days,
        )

    async def _memories(
        self, tenant: Tenant, agent_id: str, memory_id: str, agent: dict[str, Any]
    ) -> list[str]:
        memory = _memory(agent) or {}
        limit = (memory.get("sessionSummaryConfiguration") or {}).get(
            "maxRecentSessions"
        ) or DEFAULT_RECENT_SESSIONS
        found = await _run(self.sessions.summaries, tenant.tenant_id, agent_id, memory_id, limit=limit)
        return [m.summary for m in found]

    # --- memory API ------------------------------------------------------------------------------

    async def _check_alias(self, tenant: Tenant, agent_id: str, alias_id: str) -> None:
        await _run(self.store.get_agent, tenant.tenant_id, agent_id)
        if alias_id != TEST_ALIAS_ID:
            await _run(self.store.get_alias, tenant.tenant_id, agent_id, alias_id)

    async def get_agent_memory(
        self, tenant: Tenant, agent_id: str, alias_id: str, params: dict[str, Any]
    ) -> dict:
        await self._check_alias(tenant, agent_id, alias_id)
        start, size = page_start(params.get("nextToken")), params.get("maxItems") or 100
        found = await _run(
            self.sessions.summaries,
            tenant.tenant_id,
            agent_id,
            params["memoryId"],
            offset=start,
            limit=size + 1,
        )
        contents = [
            {
                "sessionSummary": {
                    "memoryId": m.memory_id,
                    "sessionId": m.session_id,
                    "sessionStartTime": traces.iso(m.session_started_at),
                    "sessionExpiryTime": traces.iso(m.expires_at),
                    "summaryText": m.summary,
                }
            }
            for m in found[:size]
        ]
        out: dict[str, Any] = {"memoryContents": contents}
        if len(found) > size:
            out["nextToken"] = page_token(start + size)
        return out

    async def delete_agent_memory(
        self, tenant: Tenant, agent_id: str, alias_id: str, params: dict[str, Any]
    ) -> None:
        await self._check_alias(tenant, agent_id, alias_id)
        await _run(
            self.sessions.delete_memory,
            tenant.tenant_id,
            agent_id,
            params.get("memoryId"),
            params.get("sessionId"),
        )


def _memory(agent: dict[str, Any]) -> dict[str, Any] | None:
    memory = agent.get("memoryConfiguration")
    if memory and "SESSION_SUMMARY" in (memory.get("enabledMemoryTypes") or []):
        return memory
    return None


def _kb_configurations(state: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    known = {kb["knowledgeBaseId"] for kb in snapshot.get("knowledgeBases", [])}
    configs: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(state.get("knowledgeBaseConfigurations") or [], start=1):
        kb_id = item["knowledgeBaseId"]
        if kb_id not in known:
            raise ValidationException(
                f"sessionState.knowledgeBaseConfigurations.{i}.member.knowledgeBaseId: {kb_id} is not a "
                "knowledge base of this agent"
            )
        configs[kb_id] = item.get("retrievalConfiguration") or {}
    return configs


def _turns_from_history(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """sessionState.conversationHistory → stored turns (user text, then the assistant's answer)."""
    turns: list[dict[str, str]] = []
    pending_user: str | None = None
    for message in messages:
        text = " ".join(block.get("text", "") for block in message.get("content") or [] if "text" in block)
        if message.get("role") == "user":
            pending_user = text
        elif pending_user is not None:
            turns.append({"user": pending_user, "assistant": text})
            pending_user = None
    return turns
