"""The orchestration loop: plan → tool call → observation → … → answer, in bounded steps.

One invocation (:meth:`Orchestrator.invoke`) takes the turn's input (or, on a return of control,
the client's results for the calls it was handed), then repeats up to ``max_iterations`` times:
call the agent's model through :class:`~model_layer.service.ModelService` (metered and admitted
per tenant, like any call) with the agent's tools; if it answers in text, that is the final
answer; if it calls tools, run them (:mod:`model_layer.agents.actions`) and give it the results.
Calls that return control end the invocation with a ``returnControl`` event; their context is
kept in the session, and the next invocation resumes from the client's results. A loop that does
not finish in ``max_iterations`` model calls stops with a ``failureTrace`` and a
``dependencyFailedException`` that says so.

Pre-processing (is the input in scope) and post-processing (rewrite the answer) run only when the
agent enables them, as on Bedrock. Traces follow Bedrock's shapes (:mod:`~model_layer.agents.traces`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from model_layer.agents import guard, prompts, traces
from model_layer.agents.actions import ActionRunner, ToolCall
from model_layer.agents.catalog import Catalog
from model_layer.agents.events import AgentEvent, Chunk, ReturnControl, TraceEvent
from model_layer.agents.executors import FunctionRegistry
from model_layer.agents.knowledge import KnowledgeBases
from model_layer.agents.records import SessionRecord
from model_layer.agents.settings import AgentSettings
from model_layer.errors import DependencyFailedException
from model_layer.service import ModelService
from model_layer.types import ChatRequest, ChatResponse, Tenant

OPERATION = "InvokeAgent"  # how the loop's model calls are metered
MAX_STORED_TURNS = 100
NOT_IN_SCOPE = "Sorry, I can't help with that request."


@dataclass
class RunStats:
    """Where an invocation's time went (for the orchestration-overhead benchmark)."""

    steps: int = 0
    model_s: float = 0.0
    tool_s: float = 0.0
    tool_calls: int = 0
    invalid_calls: int = 0


@dataclass
class AgentRun:
    """Everything one invocation needs; built by :mod:`model_layer.agents.runtime`."""

    tenant: Tenant
    identity: dict[str, str]  # {name, id, alias, version}: the Lambda event's ``agent``
    agent: dict[str, Any]  # instruction, foundationModel, promptOverrideConfiguration, …
    catalog: Catalog
    session: SessionRecord
    input_text: str
    enable_trace: bool = False
    prompt_session_attributes: dict[str, str] = field(default_factory=dict)
    kb_configurations: dict[str, dict[str, Any]] = field(default_factory=dict)
    resume: list[dict[str, Any]] | None = None  # the conversation to resume after a return of control
    references: list[dict[str, Any]] = field(default_factory=list)
    memory: list[str] = field(default_factory=list)
    request_id: str | None = None
    stats: RunStats = field(default_factory=RunStats)


class Orchestrator:
    def __init__(
        self,
        service: ModelService,
        settings: AgentSettings,
        functions: FunctionRegistry,
        knowledge: KnowledgeBases,
    ):
        self.service = service
        self.settings = settings
        self.functions = functions
        self.knowledge = knowledge

    async def invoke(self, run: AgentRun) -> AsyncIterator[AgentEvent]:
        if run.resume is not None:
            messages = run.resume
        else:
            checked = await self._guard(run, "INPUT", run.input_text, traces.TraceIds()("in"))
            if checked.trace is not None and run.enable_trace:
                yield TraceEvent(checked.trace)
            if checked.blocked:
                self._record_turn(run, checked.text)
                yield Chunk(checked.text)
                return
            run.input_text = checked.text  # masked, if the guardrail anonymized something
            refusal = None
            if prompts.enabled(run.agent, prompts.PRE_PROCESSING):
                async for event in self._pre_process(run):
                    if isinstance(event, Chunk):
                        refusal = event
                    else:
                        yield event
            if refusal is not None:
                self._record_turn(run, refusal.text)
                yield refusal
                return
            history = prompts.history_messages(
                run.session.state.get("turns", []), self.settings.history_turns
            )
            messages = [*history, prompts.user_message(run.input_text)]
        async for event in self._loop(run, messages):
            yield event

    # --- the loop --------------------------------------------------------------------------------

    async def _loop(self, run: AgentRun, messages: list[dict[str, Any]]) -> AsyncIterator[AgentEvent]:
        ids, runner = traces.TraceIds(), ActionRunner(run, self)
        for step in range(1, self.settings.max_iterations + 1):
            trace_id = ids(step)
            request = self._orchestration_request(run, messages)
            response = None
            kind = "orchestrationTrace"
            async for event in self._model_call(run, request, kind, prompts.ORCHESTRATION, trace_id):
                if isinstance(event, ChatResponse):
                    response = event
                else:
                    yield event
            assert response is not None
            calls = self._tool_calls(run, response)
            if not calls:
                async for event in self._finish(run, response.text.strip(), trace_id):
                    yield event
                return
            if response.text.strip() and run.enable_trace:
                yield TraceEvent(traces.rationale(trace_id, response.text.strip()))
            invocation_id = str(uuid.uuid4())
            async for event in self._run_calls(run, runner, calls, trace_id, invocation_id):
                yield event
            asked = next((c.result.final_text for c in calls if c.result.final_text is not None), None)
            if asked is not None:
                self._record_turn(run, asked)
                yield Chunk(asked)
                return
            # the model's turn as the next call sees it: its text (if any) and its tool calls
            content = [b for b in response.content if "toolUse" in b or b.get("text", "").strip()]
            assistant = {"role": "assistant", "content": content}
            if any(c.result.returned for c in calls):
                yield self._return_control(run, [*messages, assistant], calls, invocation_id)
                return
            messages = [*messages, assistant, {"role": "user", "content": [c.result_block() for c in calls]}]
        if run.enable_trace:
            yield from_failure(ids("end"), self.settings.max_iterations)
        raise DependencyFailedException(
            f"Max iterations exceeded: the agent made {self.settings.max_iterations} model calls without "
            "reaching a final answer",
            extra={"resourceName": run.identity.get("name", "")},
        )

    async def _run_calls(
        self, run: AgentRun, runner: ActionRunner, calls: list[ToolCall], trace_id: str, invocation_id: str
    ) -> AsyncIterator[AgentEvent]:
        started = time.monotonic()
        for call in calls:
            async for event in runner.call(call, trace_id, invocation_id):
                if run.enable_trace:
                    yield event
            run.references.extend(call.result.references)
        run.stats.tool_s += time.monotonic() - started
        run.stats.tool_calls += len(calls)
        run.stats.invalid_calls += sum(1 for c in calls if c.result.invalid)

    def _orchestration_request(self, run: AgentRun, messages: list[dict[str, Any]]) -> ChatRequest:
        system = prompts.orchestration_system(run.agent, run.prompt_session_attributes, run.memory)
        tools = run.catalog.specs
        request = ChatRequest(
            model_id=run.agent["foundationModel"],
            messages=messages,
            system=[{"text": system}],
            max_tokens=prompts.DEFAULT_MAX_TOKENS,
            tools=tools,
            tool_choice={"auto": {}} if tools else None,
        )
        return prompts.apply_inference(request, run.agent, prompts.ORCHESTRATION)

    async def _model_call(
        self,
        run: AgentRun,
        request: ChatRequest,
        kind: str,
        prompt_type: str,
        trace_id: str,
        parse: Any = None,
    ) -> AsyncIterator[Any]:
        """Call the model; yields its traces (when on) and, last, the :class:`ChatResponse`.
        ``parse(response)`` gives the ``parsedResponse`` the output trace shows (pre/post-processing)."""
        request.timeout_s = self.settings.model_timeout_s
        request.request_id = run.request_id
        if run.enable_trace:
            yield TraceEvent(traces.model_input(kind, trace_id, request, prompt_type))
        started, clock = time.time(), time.monotonic()
        response = await self.service.converse(run.tenant, request, OPERATION)
        run.stats.model_s += time.monotonic() - clock
        run.stats.steps += 1
        extra = {"parsedResponse": parse(response)} if parse is not None else {}
        if run.enable_trace:
            yield TraceEvent(traces.model_output(kind, trace_id, response, started, time.time(), **extra))
        yield response

    def _tool_calls(self, run: AgentRun, response: ChatResponse) -> list[ToolCall]:
        calls = []
        for block in response.content:
            use = block.get("toolUse")
            if use is not None:
                tool = run.catalog.get(use["name"])
                calls.append(ToolCall(use["toolUseId"], use["name"], use.get("input") or {}, tool))
        return calls

    def _return_control(
        self, run: AgentRun, messages: list[dict[str, Any]], calls: list[ToolCall], invocation_id: str
    ) -> ReturnControl:
        """Keep the conversation in the session; the client's results resume it."""
        run.session.state["pending"] = {
            "invocationId": invocation_id,
            "inputText": run.input_text,
            "messages": messages,
            "calls": [
                {
                    "toolUseId": c.tool_use_id,
                    "input": c.result.returned,
                    "result": None if c.result.returned else c.result_block(),
                }
                for c in calls
            ],
            "references": run.references,
        }
        return ReturnControl(invocation_id, [c.result.returned for c in calls if c.result.returned])

    # --- the answer ------------------------------------------------------------------------------

    async def _finish(self, run: AgentRun, answer: str, trace_id: str) -> AsyncIterator[AgentEvent]:
        if prompts.enabled(run.agent, prompts.POST_PROCESSING):
            request = prompts.post_processing_request(
                run.agent["foundationModel"], run.agent, run.input_text, answer
            )
            rewritten = None

            def parse(response: ChatResponse) -> dict[str, Any]:
                return {"text": response.text.strip()}

            post_id = trace_id + "p"
            async for event in self._model_call(
                run, request, "postProcessingTrace", prompts.POST_PROCESSING, post_id, parse
            ):
                if isinstance(event, ChatResponse):
                    rewritten = event.text.strip()
                else:
                    yield event
            answer = rewritten or answer
        checked = await self._guard(run, "OUTPUT", answer, trace_id + "g")
        if checked.trace is not None and run.enable_trace:
            yield TraceEvent(checked.trace)
        answer = checked.text
        if run.enable_trace:
            yield TraceEvent(traces.observation(trace_id, "FINISH", finalResponse={"text": answer}))
        self._record_turn(run, answer)
        yield Chunk(answer, [] if checked.blocked else citations(answer, run.references))

    async def _guard(self, run: AgentRun, source: str, text: str, trace_id: str) -> guard.Checked:
        guardrails = getattr(self.service, "guardrails", None)
        config = run.agent.get("guardrailConfiguration")
        return await guard.check(guardrails, run.tenant, config, source, text, trace_id, run.request_id)

    def _record_turn(self, run: AgentRun, answer: str) -> None:
        state = run.session.state
        state["pending"] = None
        state["turns"] = [*state.get("turns", []), {"user": run.input_text, "assistant": answer}][
            -MAX_STORED_TURNS:
        ]

    async def _pre_process(self, run: AgentRun) -> AsyncIterator[AgentEvent]:
        """Bedrock's pre-processing: the model says whether the input is in scope; if not, a refusal."""
        request = prompts.pre_processing_request(run.agent["foundationModel"], run.agent, run.input_text)
        verdict: dict[str, Any] = {}

        def parse(response: ChatResponse) -> dict[str, Any]:
            verdict.update(_verdict(response.text))
            return verdict

        trace_id = traces.TraceIds()("pre")
        async for event in self._model_call(
            run, request, "preProcessingTrace", prompts.PRE_PROCESSING, trace_id, parse
        ):
            if not isinstance(event, ChatResponse):
                yield event
        if not verdict["isValid"]:
            yield Chunk(NOT_IN_SCOPE)

    async def summarize(self, tenant: Tenant, agent: dict[str, Any], turns: list[dict[str, str]]) -> str:
        """A session's summary for memory (a model call, metered like the others)."""
        request = prompts.summary_request(agent["foundationModel"], agent, turns)
        request.timeout_s = self.settings.model_timeout_s
        response = await self.service.converse(tenant, request, OPERATION)
        return response.text.strip() or " ".join(t.get("user", "") for t in turns)[:500]


def _verdict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
        return {"isValid": bool(value.get("isValid", True)), "rationale": str(value.get("rationale", ""))}
    except (json.JSONDecodeError, AttributeError):
        return {"isValid": True, "rationale": "The classification could not be read; the input is handled."}


def from_failure(trace_id: str, iterations: int) -> TraceEvent:
    return TraceEvent(
        traces.failure(trace_id, f"Max iterations exceeded ({iterations} model calls without a final answer)")
    )


def citations(answer: str, references: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answer cites the passages the turn retrieved (one citation spanning the answer)."""
    if not references or not answer:
        return []
    part = {"textResponsePart": {"text": answer, "span": {"start": 0, "end": len(answer) - 1}}}
    return [{"generatedResponsePart": part, "retrievedReferences": references}]
