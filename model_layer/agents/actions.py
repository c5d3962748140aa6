"""One tool call of the orchestration loop: check its input, run it, and report it in traces.

A call's input is validated against the tool's JSON schema before anything runs (a model that
calls a tool badly gets the error back as its observation, and may try again). Then, by kind:

- a function or API operation of an action group runs its executor (a registered Lambda
  callable, an HTTP API) — or, with ``customControl: RETURN_CONTROL``, is handed to the client;
- a knowledge base is searched (:mod:`model_layer.agents.knowledge`);
- ``user_input`` (AMAZON.UserInput) ends the turn with the model's question to the user.

Each call yields its ``invocationInput`` and ``observation`` traces and sets its
:class:`CallResult` on the :class:`ToolCall`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from model_layer.agents import traces
from model_layer.agents.catalog import Tool
from model_layer.agents.events import AgentEvent, TraceEvent
from model_layer.agents.executors import Invocation, Outcome, as_text, call_http, call_lambda
from model_layer.agents.knowledge import passages
from model_layer.agents.openapi import server_url
from model_layer.errors import DependencyFailedException, GatewayError


@dataclass
class CallResult:
    text: str = ""
    error: bool = False
    invalid: bool = False  # the call named no tool, or its input did not fit the tool's schema
    final_text: str | None = None  # the turn ends with this answer (AMAZON.UserInput)
    returned: dict[str, Any] | None = None  # an invocationInput handed to the client
    references: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ToolCall:
    """One ``toolUse`` block of the model's answer, and what became of it."""

    tool_use_id: str
    name: str
    input: dict[str, Any]
    tool: Tool | None
    result: CallResult = field(default_factory=CallResult)

    def result_block(self) -> dict[str, Any]:
        return {
            "toolResult": {
                "toolUseId": self.tool_use_id,
                "content": [{"text": self.result.text or "(no output)"}],
                "status": "error" if self.result.error else "success",
            }
        }


def input_problem(tool: Tool, arguments: Any) -> str | None:
    """What is wrong with a call's input, in words the model can act on; None if it is valid."""
    validator = jsonschema.Draft202012Validator(tool.spec.input_schema)
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    described = [f"{'.'.join(str(p) for p in e.absolute_path) or 'input'}: {e.message}" for e in errors[:5]]
    return f"Invalid input for {tool.name}: " + "; ".join(described)


def parameters(tool: Tool, arguments: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any] | None]:
    """The call in Bedrock's terms: ``[{name, type, value}]`` and (API operations) the JSON body."""
    if tool.kind == "function":
        params = [
            {"name": k, "type": tool.param_types.get(k, "string"), "value": as_text(v)}
            for k, v in arguments.items()
        ]
        return params, None
    op = tool.operation
    assert op is not None
    params = [
        {"name": p.name, "type": p.type, "value": as_text(arguments[p.name])}
        for p in op.parameters
        if p.name in arguments
    ]
    if op.body_schema is None:
        return params, None
    if op.body_key is not None:
        return params, arguments.get(op.body_key)
    body_names = set(op.body_schema.get("properties", {}))
    return params, {k: v for k, v in arguments.items() if k in body_names}


def return_control_input(tool: Tool, arguments: dict[str, Any], agent_id: str | None) -> dict[str, Any]:
    """A ``returnControl`` invocation input (function or API) for this call."""
    params, body = parameters(tool, arguments)
    group = tool.group or {}
    member: dict[str, Any] = {"actionGroup": group.get("actionGroupName"), "actionInvocationType": "RESULT"}
    if agent_id:
        member["agentId"] = agent_id
    if tool.kind == "function":
        return {"functionInvocationInput": {**member, "function": tool.function, "parameters": params}}
    op = tool.operation
    assert op is not None
    api = {**member, "apiPath": op.api_path, "httpMethod": op.verb, "parameters": params}
    if body is not None:
        props = [{"name": k, "type": _json_type(v), "value": as_text(v)} for k, v in body.items()]
        api["requestBody"] = {"content": {"application/json": {"properties": props}}}
    return {"apiInvocationInput": api}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "string"


def action_input_trace(
    trace_id: str, tool: Tool, arguments: dict[str, Any], execution: str, invocation_id: str | None
) -> dict:
    params, body = parameters(tool, arguments)
    member: dict[str, Any] = {
        "actionGroupName": (tool.group or {}).get("actionGroupName"),
        "executionType": execution,
        "parameters": params,
    }
    if invocation_id:
        member["invocationId"] = invocation_id
    if tool.kind == "function":
        member["function"] = tool.function
    else:
        assert tool.operation is not None
        member["apiPath"], member["verb"] = tool.operation.api_path, tool.operation.verb.lower()
        if body is not None:
            props = [{"name": k, "type": _json_type(v), "value": as_text(v)} for k, v in body.items()]
            member["requestBody"] = {"content": {"application/json": props}}
    return traces.invocation_input(trace_id, "ACTION_GROUP", actionGroupInvocationInput=member)


class ActionRunner:
    """Runs tool calls for one invocation (the loop owns the order, this owns each call)."""

    def __init__(self, run: Any, orchestrator: Any):
        self.run = run  # model_layer.agents.orchestration.AgentRun
        self.o = orchestrator  # model_layer.agents.orchestration.Orchestrator

    async def call(self, call: ToolCall, trace_id: str, invocation_id: str) -> AsyncIterator[AgentEvent]:
        tool = call.tool
        if tool is None:
            call.result = CallResult(f"There is no tool named {call.name}.", error=True, invalid=True)
            yield self._event(
                traces.observation(
                    trace_id, "REPROMPT", repromptResponse={"source": "PARSER", "text": call.result.text}
                )
            )
            return
        problem = input_problem(tool, call.input)
        if problem is not None:
            call.result = CallResult(problem, error=True, invalid=True)
            yield self._event(
                traces.observation(
                    trace_id, "REPROMPT", repromptResponse={"source": "PARSER", "text": problem}
                )
            )
            return
        if tool.kind == "user_input":
            question = str(call.input.get("question", ""))
            call.result = CallResult(question, final_text=question)
            yield self._event(traces.observation(trace_id, "ASK_USER", finalResponse={"text": question}))
        elif tool.kind == "knowledge_base":
            async for event in self._knowledge_base(call, tool, trace_id):
                yield event
        elif tool.returns_control:
            call.result = CallResult(
                returned=return_control_input(tool, call.input, self.run.identity.get("id"))
            )
            yield self._event(action_input_trace(trace_id, tool, call.input, "RETURN_CONTROL", invocation_id))
        else:
            async for event in self._action(call, tool, trace_id):
                yield event

    def _event(self, trace: dict[str, Any]) -> TraceEvent:
        return TraceEvent(trace)

    async def _knowledge_base(self, call: ToolCall, tool: Tool, trace_id: str) -> AsyncIterator[AgentEvent]:
        kb_id = (tool.knowledge_base or {})["knowledgeBaseId"]
        query = str(call.input.get("searchQuery", ""))
        yield self._event(
            traces.invocation_input(
                trace_id, "KNOWLEDGE_BASE", knowledgeBaseLookupInput={"knowledgeBaseId": kb_id, "text": query}
            )
        )
        started = time.time()
        config = self.run.kb_configurations.get(kb_id) or (tool.knowledge_base or {}).get(
            "retrievalConfiguration"
        )
        try:
            async with asyncio.timeout(self.o.settings.step_timeout_s):
                refs = await self.o.knowledge.retrieve(self.run.tenant, kb_id, query, config)
        except TimeoutError:
            call.result = CallResult(f"The knowledge base {kb_id} did not answer in time.", error=True)
            refs = []
        except GatewayError as exc:
            call.result = CallResult(
                f"The knowledge base {kb_id} could not be searched: {exc.message}", error=True
            )
            refs = []
        else:
            call.result = CallResult(passages(refs), references=refs)
        output = {"retrievedReferences": refs, "metadata": traces.timing(started, time.time())}
        yield self._event(traces.observation(trace_id, "KNOWLEDGE_BASE", knowledgeBaseLookupOutput=output))

    async def _action(self, call: ToolCall, tool: Tool, trace_id: str) -> AsyncIterator[AgentEvent]:
        yield self._event(action_input_trace(trace_id, tool, call.input, "LAMBDA", None))
        started = time.time()
        outcome = await self.execute(tool, call.input)
        self._apply_attributes(outcome)
        if outcome.response_state == "FAILURE":
            name = (tool.group or {}).get("actionGroupName", "")
            raise DependencyFailedException(
                f"The action group {name} reported a failure: {outcome.text[:500]}",
                extra={"resourceName": name},
            )
        call.result = CallResult(outcome.text, error=outcome.failed)
        kind = "REPROMPT" if outcome.response_state == "REPROMPT" else "ACTION_GROUP"
        metadata = traces.timing(started, time.time())
        if kind == "REPROMPT":
            member: dict[str, Any] = {"repromptResponse": {"source": "ACTION_GROUP", "text": outcome.text}}
        else:
            member = {"actionGroupInvocationOutput": {"text": outcome.text, "metadata": metadata}}
        yield self._event(traces.observation(trace_id, kind, **member))

    async def execute(self, tool: Tool, arguments: dict[str, Any]) -> Outcome:
        group = tool.group or {}
        params, body = parameters(tool, arguments)
        invocation = Invocation(
            agent=self.run.identity,
            session_id=self.run.session.session_id,
            input_text=self.run.input_text,
            action_group=group.get("actionGroupName", ""),
            parameters=params,
            function=tool.function,
            api_path=tool.operation.api_path if tool.operation else None,
            http_method=tool.operation.verb if tool.operation else None,
            body=body,
            session_attributes=dict(self.run.session.state.get("sessionAttributes", {})),
            prompt_session_attributes=dict(self.run.prompt_session_attributes),
        )
        executor = group.get("actionGroupExecutor") or {}
        arn = executor.get("lambda")
        if arn is not None:
            target = self.o.functions.target(arn)
            if target is None:
                return Outcome(f"No function is registered for {arn}.", failed=True)
            return await call_lambda(target, arn, invocation, self.o.settings.step_timeout_s)
        assert tool.operation is not None
        locations = {p.name: p.location for p in tool.operation.parameters}
        return await call_http(server_url(group["_openapi"]) or "", invocation, locations, self.o.settings)

    def _apply_attributes(self, outcome: Outcome) -> None:
        if outcome.session_attributes is not None:
            self.run.session.state["sessionAttributes"] = outcome.session_attributes
        if outcome.prompt_session_attributes is not None:
            self.run.prompt_session_attributes = outcome.prompt_session_attributes
