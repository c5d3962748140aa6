"""Typed clients for the gateway's agents: :class:`AgentsClient` (sync) and :class:`AsyncAgentsClient`.

They speak bedrock-agent (define: agents, action groups, knowledge bases, PrepareAgent, aliases)
and bedrock-agent-runtime (InvokeAgent's event stream, return of control, memory) over httpx,
signed like :class:`~model_layer.sdk.StrataClient` (SigV4 with an issued key pair, or an API key),
with the same typed errors. Like the rest of the SDK it imports no gateway code::

    from model_layer.sdk import AgentsClient, function

    with AgentsClient(url, access_key=ak, secret_key=sk) as agents:
        agent_id = agents.create_agent("helper", model="local.smollm2-135m-instruct-v1:0",
                                       instruction="You help travellers with forecasts and bookings.")
        agents.create_action_group(agent_id, "weather", lambda_arn=ARN,
                                   functions=[function("get_forecast", "A city's forecast", city="string")])
        agents.prepare_agent(agent_id)
        answer = agents.ask(agent_id, "Weather in Paris?", session_id="s-1")
        print(answer.text, answer.citations)

Streaming: :meth:`AgentsClient.invoke` yields :class:`AgentChunk`, :class:`AgentTrace` and
:class:`AgentReturnControl` events; :meth:`AgentsClient.ask` collects them into an
:class:`AgentAnswer`; :meth:`AgentsClient.return_results` resumes a turn after a return of control.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from model_layer.sdk._wire import EventStreamDecoder
from model_layer.sdk.client import _AsyncTransport, _SyncTransport
from model_layer.sdk.errors import (
    ModelStreamError,
)

TEST_ALIAS = "TSTALIASID"


def function(
    name: str, description: str, *, required: tuple[str, ...] | None = None, **params: str
) -> dict[str, Any]:
    """A function-schema entry: ``function("book", "Book a room", city="string", nights="integer")``.

    Every parameter is required unless ``required`` names the required ones.
    """
    needed = set(params) if required is None else set(required)
    return {
        "name": name,
        "description": description,
        "parameters": {p: {"type": kind, "required": p in needed} for p, kind in params.items()},
    }


@dataclass
class AgentChunk:
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AgentTrace:
    trace: dict[str, Any]  # one Trace union value (orchestrationTrace, guardrailTrace…)
    event: dict[str, Any]  # the whole trace event (agentId, sessionId, eventTime…)


@dataclass
class AgentReturnControl:
    invocation_id: str
    inputs: list[dict[str, Any]]  # functionInvocationInput / apiInvocationInput members


AgentEvent = AgentChunk | AgentTrace | AgentReturnControl


@dataclass
class AgentAnswer:
    """An invocation's events collected."""

    text: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    traces: list[dict[str, Any]] = field(default_factory=list)
    return_control: AgentReturnControl | None = None
    session_id: str = ""

    def add(self, event: AgentEvent) -> None:
        if isinstance(event, AgentChunk):
            self.text += event.text
            self.citations.extend(event.citations)
        elif isinstance(event, AgentTrace):
            self.traces.append(event.trace)
        else:
            self.return_control = event


def _agent_event(kind: str, body: dict[str, Any]) -> AgentEvent | None:
    """One ``completion`` event (already parsed) → its typed agent event; unknown kinds are skipped."""
    if kind == "chunk":
        text = base64.b64decode(body.get("bytes", "")).decode("utf-8")
        return AgentChunk(text, body.get("attribution", {}).get("citations", []))
    if kind == "trace":
        return AgentTrace(body.get("trace", {}), body)
    if kind == "returnControl":
        return AgentReturnControl(body.get("invocationId", ""), body.get("invocationInputs", []))
    return None


def _path(*parts: str, trailing: bool = True) -> str:
    return "/" + "/".join(quote(p, safe="-._~") for p in parts) + ("/" if trailing else "")


class _AgentsBase:
    """Request shapes both agents clients send (the HTTP side is the SDK's shared transport)."""

    DEFAULT_TIMEOUT_S = 300.0  # one invocation may run several model calls and tools
    USER_AGENT = "strata-sdk/0.1 agents"

    # --- request shapes (the same for both clients) ----------------------------------------------

    @staticmethod
    def _agent_body(name: str, model: str, instruction: str, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"agentName": name, "foundationModel": model, "instruction": instruction}
        body.update({k: v for k, v in extra.items() if v is not None})
        return body

    @staticmethod
    def _group_body(
        name: str,
        functions: list[dict[str, Any]] | None,
        api_schema: str | dict[str, Any] | None,
        lambda_arn: str | None,
        return_control: bool,
        description: str | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"actionGroupName": name}
        if description:
            body["description"] = description
        if functions is not None:
            body["functionSchema"] = {"functions": functions}
        if api_schema is not None:
            payload = api_schema if isinstance(api_schema, str) else json.dumps(api_schema)
            body["apiSchema"] = {"payload": payload}
        if return_control:
            body["actionGroupExecutor"] = {"customControl": "RETURN_CONTROL"}
        elif lambda_arn:
            body["actionGroupExecutor"] = {"lambda": lambda_arn}
        return body

    @staticmethod
    def _invoke_body(
        text: str | None,
        enable_trace: bool,
        end_session: bool,
        memory_id: str | None,
        session_state: dict[str, Any] | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"enableTrace": enable_trace, "endSession": end_session}
        if text is not None:
            body["inputText"] = text
        if memory_id:
            body["memoryId"] = memory_id
        if session_state:
            body["sessionState"] = session_state
        return body

    @staticmethod
    def _results_state(control: AgentReturnControl, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"invocationId": control.invocation_id, "returnControlInvocationResults": results}


class AgentsClient(_AgentsBase, _SyncTransport):
    """Synchronous agents client. Use as a context manager, or call :meth:`close`."""

    def create_agent(self, name: str, *, model: str, instruction: str, **extra: Any) -> str:
        """Create an agent; its id. ``extra``: more CreateAgent members (``memoryConfiguration``…)."""
        body = self._agent_body(name, model, instruction, **extra)
        return self._json("PUT", "/agents/", body)["agent"]["agentId"]

    def get_agent(self, agent_id: str) -> dict[str, Any]:
        return self._json("GET", _path("agents", agent_id))["agent"]

    def list_agents(self) -> list[dict[str, Any]]:
        return self._json("POST", "/agents/", {})["agentSummaries"]

    def delete_agent(self, agent_id: str, *, skip_in_use_check: bool = False) -> None:
        query = "?skipResourceInUseCheck=true" if skip_in_use_check else ""
        self._json("DELETE", _path("agents", agent_id) + query)

    def create_action_group(
        self,
        agent_id: str,
        name: str,
        *,
        functions: list[dict[str, Any]] | None = None,
        api_schema: str | dict[str, Any] | None = None,
        lambda_arn: str | None = None,
        return_control: bool = False,
        description: str | None = None,
    ) -> str:
        """A function or OpenAPI action group run by a Lambda (or returning control); its id."""
        body = self._group_body(name, functions, api_schema, lambda_arn, return_control, description)
        path = _path("agents", agent_id, "agentversions", "DRAFT", "actiongroups")
        return self._json("PUT", path, body)["agentActionGroup"]["actionGroupId"]

    def associate_knowledge_base(self, agent_id: str, knowledge_base_id: str, description: str) -> None:
        path = _path("agents", agent_id, "agentversions", "DRAFT", "knowledgebases")
        self._json("PUT", path, {"knowledgeBaseId": knowledge_base_id, "description": description})

    def prepare_agent(self, agent_id: str) -> str:
        """Prepare the DRAFT (the test alias runs it); the agent's status."""
        return self._json("POST", _path("agents", agent_id))["agentStatus"]

    def create_alias(self, agent_id: str, name: str, *, version: str | None = None) -> str:
        """An alias: of a new version made from the prepared DRAFT, or of ``version``; its id."""
        body: dict[str, Any] = {"agentAliasName": name}
        if version is not None:
            body["routingConfiguration"] = [{"agentVersion": version}]
        return self._json("PUT", _path("agents", agent_id, "agentaliases"), body)["agentAlias"][
            "agentAliasId"
        ]

    # --- invocations -----------------------------------------------------------------------------

    def invoke(
        self,
        agent_id: str,
        text: str | None,
        *,
        session_id: str,
        alias_id: str = TEST_ALIAS,
        enable_trace: bool = False,
        end_session: bool = False,
        memory_id: str | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> Iterator[AgentEvent]:
        """InvokeAgent as a stream of events: errors before the stream raise here, later ones while
        iterating."""
        body = self._invoke_body(text, enable_trace, end_session, memory_id, session_state)
        path = _path(
            "agents", agent_id, "agentAliases", alias_id, "sessions", session_id, "text", trailing=False
        )
        return self._events(self._send("POST", path, body, stream=True))

    @staticmethod
    def _events(response: httpx.Response) -> Iterator[AgentEvent]:
        decoder = EventStreamDecoder(_agent_event)
        try:
            for data in response.iter_bytes():
                yield from decoder.feed(data)
        except httpx.TransportError as exc:
            raise ModelStreamError(f"the stream broke off: {exc or type(exc).__name__}") from None
        finally:
            response.close()

    def ask(self, agent_id: str, text: str | None, *, session_id: str, **options: Any) -> AgentAnswer:
        """:meth:`invoke`, collected."""
        answer = AgentAnswer(session_id=session_id)
        for event in self.invoke(agent_id, text, session_id=session_id, **options):
            answer.add(event)
        return answer

    def return_results(
        self,
        agent_id: str,
        control: AgentReturnControl,
        results: list[dict[str, Any]],
        *,
        session_id: str,
        **options: Any,
    ) -> AgentAnswer:
        """Resume the turn that returned control, with the results of the calls it handed over."""
        state = {**options.pop("session_state", {}), **self._results_state(control, results)}
        return self.ask(agent_id, None, session_id=session_id, session_state=state, **options)

    def get_memory(
        self, agent_id: str, memory_id: str, *, alias_id: str = TEST_ALIAS
    ) -> list[dict[str, Any]]:
        """The session summaries kept for ``memory_id``, newest first."""
        query = urlencode({"memoryId": memory_id, "memoryType": "SESSION_SUMMARY"})
        path = _path("agents", agent_id, "agentAliases", alias_id, "memories", trailing=False)
        return [m["sessionSummary"] for m in self._json("GET", f"{path}?{query}")["memoryContents"]]

    def delete_memory(self, agent_id: str, memory_id: str, *, alias_id: str = TEST_ALIAS) -> None:
        path = _path("agents", agent_id, "agentAliases", alias_id, "memories", trailing=False)
        self._json("DELETE", f"{path}?{urlencode({'memoryId': memory_id})}")


class AsyncAgentsClient(_AgentsBase, _AsyncTransport):
    """The asyncio twin of :class:`AgentsClient` for invocations (define agents with either)."""

    async def invoke(
        self,
        agent_id: str,
        text: str | None,
        *,
        session_id: str,
        alias_id: str = TEST_ALIAS,
        enable_trace: bool = False,
        end_session: bool = False,
        memory_id: str | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> AsyncIterator[AgentEvent]:
        body = self._invoke_body(text, enable_trace, end_session, memory_id, session_state)
        path = _path(
            "agents", agent_id, "agentAliases", alias_id, "sessions", session_id, "text", trailing=False
        )
        return self._events(await self._send("POST", path, body, stream=True))

    @staticmethod
    async def _events(response: httpx.Response) -> AsyncIterator[AgentEvent]:
        decoder = EventStreamDecoder(_agent_event)
        try:
            async for data in response.aiter_bytes():
                for event in decoder.feed(data):
                    yield event
        except httpx.TransportError as exc:
            raise ModelStreamError(f"the stream broke off: {exc or type(exc).__name__}") from None
        finally:
            await response.aclose()

    async def ask(self, agent_id: str, text: str | None, *, session_id: str, **options: Any) -> AgentAnswer:
        answer = AgentAnswer(session_id=session_id)
        async for event in await self.invoke(agent_id, text, session_id=session_id, **options):
            answer.add(event)
        return answer
