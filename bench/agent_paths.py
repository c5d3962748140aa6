"""The two ways bench/agents.py runs a task, and the scripted model that proves the loop.

- :func:`run_agent`: a Bedrock agent on the gateway, through boto3's ``invoke_agent`` (traces on),
  the bench answering ``returnControl`` itself (the payments group) and sending follow-up turns;
- :func:`run_langchain`: LangChain's plain tool-calling loop (``ChatBedrockConverse.bind_tools``,
  run the ``tool_calls``, send ``ToolMessage``s back) on the same model through the same gateway,
  with the same tool names and JSON schemas, its tools calling the same world directly;
- :class:`OracleProvider`: a provider that follows each task's written plan step by step, reading
  the step from the conversation it is sent and the order id from the tool results, so a task
  succeeds only if the loop carried every observation back correctly.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jsonschema
import urllib3
from agent_world import WORLD
from botocore.exceptions import EventStreamError, ReadTimeoutError

from model_layer.providers.common import new_tool_use_id
from model_layer.types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ChatRequest,
    MessageStart,
    MessageStop,
    Metadata,
    ToolUseStart,
    Usage,
)

USER_INPUT = "user_input"
_ORDER_ID = re.compile(r'"orderId":\s*"(O-2\d+)"')


@dataclass
class Outcome:
    """One task on one path."""

    answer: str = ""
    steps: int = 0  # model calls
    tool_calls: int = 0
    invalid_calls: int = 0  # calls not valid against their tool's schema (or naming no tool)
    wall_s: float = 0.0
    tool_s: float = 0.0  # time in the tools (Lambda handlers, the bench's own payments, KB lookups)
    error: str | None = None
    capped: bool = False  # stopped by the per-task time cap


def _deadline(cap_s: float | None) -> float:
    return time.perf_counter() + cap_s if cap_s else float("inf")


def _cap(out: Outcome, cap_s: float | None) -> None:
    out.capped, out.error = True, f"time cap of {cap_s:g} s per task reached"


# --- the scripted model ------------------------------------------------------------------------


def _is_text_turn(message: dict[str, Any]) -> bool:
    return message.get("role") == "user" and any("text" in b for b in message.get("content", []))


class OracleProvider:
    """A provider that plays the current task's plan (``task``) from the conversation's position."""

    name: ClassVar[str] = "oracle"
    supports_tools: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = False

    def __init__(self) -> None:
        self.task: dict[str, Any] = {}
        self.kb_tool = "knowledge_base"
        self.busy_s = 0.0

    def models(self) -> list:
        return []

    def _answer(self, request: ChatRequest) -> list[dict[str, Any]]:
        texts = [i for i, m in enumerate(request.messages) if _is_text_turn(m)]
        turn = len(texts) - 1
        step = sum(1 for m in request.messages[texts[-1] :] if m.get("role") == "assistant")
        plan = self.task["plan"] if turn == 0 else self.task["follow_up"]["plan"]
        if step >= len(plan):
            return [{"text": "(the plan is over)"}]
        entry = plan[step]
        if isinstance(entry, str):
            return [{"text": entry}]
        names = {t.name for t in request.tools}
        blocks = []
        for name, arguments in entry:
            if name == USER_INPUT and USER_INPUT not in names:  # no such tool: ask in the answer
                return [{"text": arguments["question"]}]
            tool = self.kb_tool if name == "KB" else name
            blocks.append({"toolUse": {"name": tool, "input": self._fill(arguments, request)}})
        return blocks

    @staticmethod
    def _fill(arguments: dict[str, Any], request: ChatRequest) -> dict[str, Any]:
        if "$order" not in arguments.values():
            return arguments
        seen = json.dumps(request.messages)
        found = _ORDER_ID.findall(seen.replace('\\"', '"'))
        order = found[-1] if found else "unknown"
        return {k: order if v == "$order" else v for k, v in arguments.items()}

    async def converse_stream(self, request: ChatRequest):
        started = time.perf_counter()
        blocks = self._answer(request)
        self.busy_s += time.perf_counter() - started
        yield MessageStart()
        for i, block in enumerate(blocks):
            if "toolUse" in block:
                use = block["toolUse"]
                yield BlockStart(i, ToolUseStart(new_tool_use_id(), use["name"]))
                yield BlockDelta(i, tool_input=json.dumps(use["input"]))
            else:
                yield BlockDelta(i, text=block["text"])
            yield BlockStop(i)
        yield MessageStop("tool_use" if any("toolUse" in b for b in blocks) else "end_turn")
        yield Metadata(Usage(input_tokens=10, output_tokens=10))

    async def embed(self, model_id: str, texts: list[str]):
        raise NotImplementedError

    async def count_tokens(self, request: ChatRequest) -> int:
        return 1

    async def aclose(self) -> None:
        return None


# --- the agent path ------------------------------------------------------------------------------


@dataclass
class AgentPath:
    runtime: Any  # boto3 bedrock-agent-runtime
    agent_id: str
    cap_s: float | None = None  # wall seconds per task (None: no cap)
    counter: int = 0

    def run(self, task: dict[str, Any]) -> Outcome:
        out, started = Outcome(), time.perf_counter()
        deadline = _deadline(self.cap_s)
        self.counter += 1
        session = f"bench-{self.counter}"
        turns = [task["input"]] + ([task["follow_up"]["input"]] if "follow_up" in task else [])
        try:
            for text in turns:
                state: dict[str, Any] | None = None
                out.answer = ""
                while True:
                    control = self._invoke(out, session, text, state, deadline)
                    if control is None or out.capped:
                        break
                    state, text = self._pay(out, control), None
                if out.capped:
                    break
        except EventStreamError as exc:
            out.error = exc.response["Error"]["Code"] + ": " + exc.response["Error"]["Message"][:160]
        except (ReadTimeoutError, urllib3.exceptions.ReadTimeoutError):
            # the runtime client's read timeout is the cap: a model step that outlasts it ends the
            # task, and the gateway cancels the loop when the connection closes
            _cap(out, self.cap_s)
        except Exception as exc:  # any other failure counts as a failed task, not a failed bench
            out.error = f"{type(exc).__name__}: {str(exc)[:160]}"
        out.wall_s = time.perf_counter() - started
        return out

    def warm_up(self, runtime: Any) -> None:
        """One uncounted model call, so the engine's prompt cache holds the agent's prompt prefix."""
        args = {"agentId": self.agent_id, "agentAliasId": "TSTALIASID", "sessionId": "bench-warm-up"}
        stream = runtime.invoke_agent(**args, inputText="Hello", enableTrace=True)["completion"]
        try:
            for event in stream:
                if "modelInvocationOutput" in event.get("trace", {}).get("trace", {}).get(
                    "orchestrationTrace", {}
                ):
                    break  # the first model call is done: its prompt is cached
        except EventStreamError:
            pass  # whatever the turn ends with, the prompt was evaluated
        finally:
            stream.close()

    def _invoke(
        self, out: Outcome, session: str, text: str | None, state: dict | None, deadline: float
    ) -> dict | None:
        args: dict[str, Any] = {
            "agentId": self.agent_id,
            "agentAliasId": "TSTALIASID",
            "sessionId": session,
            "enableTrace": True,
        }
        if text is not None:
            args["inputText"] = text
        if state is not None:
            args["sessionState"] = state
        control = None
        stream = self.runtime.invoke_agent(**args)["completion"]
        for event in stream:
            if time.perf_counter() > deadline:
                stream.close()  # the gateway cancels the loop when its client goes away
                _cap(out, self.cap_s)
                return None
            if "chunk" in event:
                out.answer += event["chunk"]["bytes"].decode()
            elif "returnControl" in event:
                control = event["returnControl"]
            elif "trace" in event:
                _account(out, event["trace"]["trace"])
        return control

    @staticmethod
    def _pay(out: Outcome, control: dict[str, Any]) -> dict[str, Any]:
        results, started = [], time.perf_counter()
        for given in control["invocationInputs"]:
            call = given["functionInvocationInput"]
            params = {p["name"]: p["value"] for p in call.get("parameters", [])}
            try:
                result = WORLD.charge(params.get("order_id", ""), float(params.get("amount", "nan")))
            except ValueError:
                result = {"error": "amount is not a number"}
            body = {"TEXT": {"body": json.dumps(result)}}
            results.append(
                {
                    "functionResult": {
                        "actionGroup": call["actionGroup"],
                        "function": call["function"],
                        "responseBody": body,
                    }
                }
            )
        out.tool_s += time.perf_counter() - started
        return {"invocationId": control["invocationId"], "returnControlInvocationResults": results}


def _account(out: Outcome, trace: dict[str, Any]) -> None:
    """Steps, tool calls, invalid calls, tool time and retrieved passages from one trace."""
    step = trace.get("orchestrationTrace", {})
    if "modelInvocationInput" in step:
        out.steps += 1
    if "invocationInput" in step:
        out.tool_calls += 1
    observation = step.get("observation", {})
    if (
        observation.get("type") == "REPROMPT"
        and observation.get("repromptResponse", {}).get("source") == "PARSER"
    ):
        out.tool_calls += 1
        out.invalid_calls += 1
    for key in ("actionGroupInvocationOutput", "knowledgeBaseLookupOutput"):
        metadata = observation.get(key, {}).get("metadata", {})
        out.tool_s += metadata.get("totalTimeMs", 0) / 1000
    for ref in observation.get("knowledgeBaseLookupOutput", {}).get("retrievedReferences", []):
        WORLD.retrieved.append(ref.get("content", {}).get("text", ""))


# --- the LangChain path ------------------------------------------------------------------------


@dataclass
class LangChainPath:
    llm: Any  # ChatBedrockConverse on the gateway
    tools: list[dict[str, Any]]  # Converse-shaped specs: name, description, inputSchema
    kb_id: str
    retrieve: Any  # boto3 bedrock-agent-runtime retrieve
    instruction: str
    max_steps: int = 6
    cap_s: float | None = None  # wall seconds per task (None: no cap); the client's read timeout too
    _schemas: dict[str, dict] = field(default_factory=dict)
    _specs: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._schemas = {t["name"]: t["inputSchema"] for t in self.tools}
        specs = [
            {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t["description"],
                    "parameters": t["inputSchema"],
                },
            }
            for t in self.tools
        ]
        self.bound = self.llm.bind_tools(specs)
        self._specs = specs

    def warm_up(self, llm: Any) -> None:
        """One uncounted call (``llm``: the same model without the cap's read timeout), so the
        engine's prompt cache holds this path's prompt prefix."""
        from langchain_core.messages import HumanMessage, SystemMessage

        llm.bind_tools(self._specs).invoke([SystemMessage(self.instruction), HumanMessage("Hello")])

    def run(self, task: dict[str, Any]) -> Outcome:
        from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage

        out, started = Outcome(), time.perf_counter()
        deadline = _deadline(self.cap_s)
        messages: list[Any] = [SystemMessage(self.instruction)]
        turns = [task["input"]] + ([task["follow_up"]["input"]] if "follow_up" in task else [])
        try:
            for text in turns:
                messages.append(HumanMessage(text))
                out.answer = self._turn(out, messages, ToolMessage, deadline)
                if out.capped:
                    break
        except Exception as exc:  # the baseline's own failures count as failed tasks
            out.error = f"{type(exc).__name__}: {str(exc)[:160]}"
            # the client's read timeout is the cap: a model call that outlasts it ends the task
            out.capped = self.cap_s is not None and "timeout" in f"{type(exc).__name__} {exc}".lower()
        out.wall_s = time.perf_counter() - started
        return out

    def _turn(self, out: Outcome, messages: list[Any], tool_message: Any, deadline: float) -> str:
        for _ in range(self.max_steps):
            if time.perf_counter() > deadline:
                _cap(out, self.cap_s)
                return ""
            reply = self.bound.invoke(messages)
            out.steps += 1
            messages.append(reply)
            if not reply.tool_calls:
                return reply.text
            for call in reply.tool_calls:
                out.tool_calls += 1
                started = time.perf_counter()
                result = self._call(out, call["name"], call["args"])
                out.tool_s += time.perf_counter() - started
                messages.append(tool_message(result, tool_call_id=call["id"]))
        out.error = f"no final answer in {self.max_steps} model calls"
        return ""

    def _call(self, out: Outcome, name: str, args: dict[str, Any]) -> str:
        schema = self._schemas.get(name)
        if schema is None:
            out.invalid_calls += 1
            return f"There is no tool named {name}."
        try:
            jsonschema.validate(args, schema)
        except jsonschema.ValidationError as exc:
            out.invalid_calls += 1
            return f"Invalid input for {name}: {exc.message}"
        return (
            json.dumps(call_world(name, args, self))
            if not name.startswith("knowledge_base")
            else self._lookup(args)
        )

    def _lookup(self, args: dict[str, Any]) -> str:
        results = self.retrieve(
            knowledgeBaseId=self.kb_id, retrievalQuery={"text": args.get("searchQuery", "")}
        )
        texts = [r["content"]["text"] for r in results["retrievalResults"]]
        WORLD.retrieved.extend(texts)
        return "\n\n".join(f"[{i}] {t}" for i, t in enumerate(texts, start=1)) or "No passages found."


def call_world(name: str, args: dict[str, Any], path: Any) -> Any:
    """The world function behind a tool name (the LangChain path calls it directly)."""
    table = {
        "catalog__search_products": lambda: WORLD.search_products(str(args.get("query", ""))),
        "catalog__get_product": lambda: WORLD.get_product(str(args.get("product_id", ""))),
        "cart__add_to_cart": lambda: WORLD.add_to_cart(
            str(args.get("product_id", "")), int(args.get("quantity", 1))
        ),
        "cart__remove_from_cart": lambda: WORLD.remove_from_cart(str(args.get("product_id", ""))),
        "cart__view_cart": WORLD.view_cart,
        "orders__getOrder": lambda: WORLD.get_order(str(args.get("orderId", ""))),
        "orders__createOrder": lambda: WORLD.create_order(str(args.get("shippingSpeed", "standard"))),
        "orders__cancelOrder": lambda: WORLD.cancel_order(str(args.get("orderId", ""))),
        "payments__charge_card": lambda: WORLD.charge(
            str(args.get("order_id", "")), float(args.get("amount", 0))
        ),
    }
    return table[name]()
