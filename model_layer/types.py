"""Internal types every part of the gateway speaks: requests, stream events, models, tenants.

The internal chat request keeps Converse's message and content-block shapes (plain dicts, already
validated at the edge): Bedrock is the canonical API, OpenAI requests are translated into it, and
providers translate out of it in small pure functions. Providers produce one stream of
:data:`StreamEvent`; a non-streaming call is that stream collected (:func:`collect`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

StopReason = Literal[
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "malformed_tool_use",
    "model_context_window_exceeded",
]


@dataclass
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class ChatRequest:
    """A validated chat request in Converse terms (``messages``/``system`` are Converse blocks)."""

    model_id: str
    messages: list[dict[str, Any]]
    system: list[dict[str, Any]] = field(default_factory=list)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop_sequences: list[str] = field(default_factory=list)
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: dict[str, Any] | None = None  # {"auto": {}} | {"any": {}} | {"tool": {"name": ...}}
    json_schema: dict[str, Any] | None = None  # constrain the answer to this JSON schema
    extra: dict[str, Any] = field(default_factory=dict)  # additionalModelRequestFields
    timeout_s: float | None = None
    tenant_id: str | None = None
    request_id: str | None = None
    # False when the client waits for the whole answer (Converse, InvokeModel, non-stream /v1):
    # a provider may then make one plain upstream call instead of a streamed one, and still
    # yield the same events (the service collects them either way).
    stream: bool = True
    # What the provider has consumed so far, updated while it streams where it can tell (the
    # local engine reports prompt and generated tokens per chunk): the metering of a call that
    # ends early (disconnect, timeout, error) uses it. Zero = unknown; the service estimates.
    progress: Usage = field(default_factory=lambda: Usage())


@dataclass
class Usage:
    input_tokens: int = 0  # excluding cache reads/writes, as Bedrock reports it
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    # Prompt tokens the engine reused from its own prefix cache, asked for or not. Only for the
    # metrics: clients see cache reads only when they asked for caching (a cachePoint), as on
    # Bedrock; otherwise these tokens are part of input_tokens. Not billed, not in total_tokens.
    engine_cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_write_input_tokens
        )


# --- stream events (the Converse stream, provider-neutral) -------------------------------------


@dataclass
class MessageStart:
    role: str = "assistant"


@dataclass
class ToolUseStart:
    tool_use_id: str
    name: str


@dataclass
class BlockStart:
    index: int
    tool_use: ToolUseStart | None = None


@dataclass
class BlockDelta:
    index: int
    text: str | None = None
    tool_input: str | None = None  # a JSON *fragment*; fragments of one block join into the input
    reasoning: str | None = None


@dataclass
class BlockStop:
    index: int


@dataclass
class MessageStop:
    stop_reason: StopReason
    additional_fields: dict[str, Any] | None = None


@dataclass
class Metadata:
    usage: Usage
    latency_ms: int = 0
    trace: dict[str, Any] | None = None  # Converse's ``trace`` (``{"guardrail": …}``) when asked for


StreamEvent = MessageStart | BlockStart | BlockDelta | BlockStop | MessageStop | Metadata


@dataclass
class ChatResponse:
    """A collected stream: the assistant message in Converse content blocks."""

    content: list[dict[str, Any]]
    stop_reason: StopReason
    usage: Usage
    latency_ms: int = 0
    additional_fields: dict[str, Any] | None = None
    trace: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.content)


@dataclass(frozen=True)
class InvocationBodies:
    """What was asked and answered, for an invocation log that records bodies (opt-in)."""

    request: ChatRequest
    response: ChatResponse | None  # None when the call failed before producing an answer


async def collect(events: AsyncIterator[StreamEvent]) -> ChatResponse:
    """Collect a stream into a response: the one path shared by streaming and non-streaming calls."""
    return fold([ev async for ev in events])


def fold(events: Iterable[StreamEvent]) -> ChatResponse:
    """The response a sequence of stream events amounts to."""
    blocks: dict[int, dict[str, Any]] = {}
    tool_json: dict[int, list[str]] = {}
    stop: StopReason = "end_turn"
    usage, latency, extra, trace = Usage(), 0, None, None
    for ev in events:
        if isinstance(ev, BlockStart) and ev.tool_use is not None:
            blocks[ev.index] = {"toolUse": {"toolUseId": ev.tool_use.tool_use_id, "name": ev.tool_use.name}}
            tool_json[ev.index] = []
        elif isinstance(ev, BlockDelta):
            if ev.tool_input is not None:
                tool_json.setdefault(ev.index, []).append(ev.tool_input)
            elif ev.text is not None:
                blocks.setdefault(ev.index, {"text": ""})
                blocks[ev.index]["text"] = blocks[ev.index].get("text", "") + ev.text
            elif ev.reasoning is not None:
                rc = blocks.setdefault(ev.index, {"reasoningContent": {"reasoningText": {"text": ""}}})
                rc["reasoningContent"]["reasoningText"]["text"] += ev.reasoning
        elif isinstance(ev, MessageStop):
            stop, extra = ev.stop_reason, ev.additional_fields
        elif isinstance(ev, Metadata):
            usage, latency, trace = ev.usage, ev.latency_ms, ev.trace
    for index, parts in tool_json.items():
        raw = "".join(parts)
        blocks[index]["toolUse"]["input"] = json.loads(raw) if raw else {}
    content = [blocks[i] for i in sorted(blocks)]
    return ChatResponse(content, stop, usage, latency, extra, trace)


# --- models and tenants --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """A model the gateway serves, as ListFoundationModels and /v1/models describe it."""

    model_id: str  # gateway id, e.g. "local.smollm2-135m-instruct-v1:0"
    name: str
    provider_name: str  # shown as providerName
    kind: Literal["chat", "embedding"] = "chat"
    input_modalities: tuple[str, ...] = ("TEXT",)
    output_modalities: tuple[str, ...] = ("TEXT",)
    streaming: bool = True
    context_window: int = 8192
    # USD per 1,000 tokens, for metering; 0 for local models.
    input_price_per_1k: float = 0.0
    output_price_per_1k: float = 0.0
    native_format: str = "converse"  # InvokeModel body family, see model_layer.wire.invoke


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    input_tokens: int


@dataclass(frozen=True)
class TenantPolicy:
    """What a tenant may do: its limits, models and budgets (None = the gateway's default / no limit)."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    allowed_models: frozenset[str] | None = None  # gateway model ids; None = every model
    daily_budget_usd: float | None = None
    monthly_budget_usd: float | None = None
    # model id -> (requests/min, tokens/min) for this tenant on that model
    model_limits: tuple[tuple[str, int | None, int | None], ...] = ()

    def allows(self, model_id: str) -> bool:
        return self.allowed_models is None or model_id in self.allowed_models


NO_POLICY = TenantPolicy()


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    key_id: str  # the access key id or API key id that authenticated the request
    policy: TenantPolicy = NO_POLICY
