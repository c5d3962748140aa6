"""Typed results of the SDK: Converse responses, stream events, models, embeddings.

Plain frozen dataclasses parsed from the gateway's JSON (Bedrock field names turned into Python
ones); each keeps the parsed JSON in ``raw`` for fields the SDK does not model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0  # excluding cache reads/writes, as Bedrock reports it
    output_tokens: int = 0
    total_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0

    @classmethod
    def from_wire(cls, usage: dict[str, Any] | None) -> TokenUsage:
        usage = usage or {}
        return cls(
            input_tokens=int(usage.get("inputTokens", 0)),
            output_tokens=int(usage.get("outputTokens", 0)),
            total_tokens=int(usage.get("totalTokens", 0)),
            cache_read_input_tokens=int(usage.get("cacheReadInputTokens", 0)),
            cache_write_input_tokens=int(usage.get("cacheWriteInputTokens", 0)),
        )


@dataclass(frozen=True)
class ToolUse:
    tool_use_id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class ConverseResponse:
    """A Converse answer: the assistant message (Converse content blocks) and its accounting."""

    content: list[dict[str, Any]]
    stop_reason: str
    usage: TokenUsage
    latency_ms: int = 0
    request_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        return "".join(b["text"] for b in self.content if "text" in b)

    @property
    def tool_uses(self) -> list[ToolUse]:
        return [
            ToolUse(b["toolUse"]["toolUseId"], b["toolUse"]["name"], b["toolUse"].get("input") or {})
            for b in self.content
            if "toolUse" in b
        ]

    @property
    def message(self) -> dict[str, Any]:
        """The assistant turn, ready to append to ``messages`` for the next call."""
        return {"role": "assistant", "content": self.content}

    @classmethod
    def from_wire(cls, body: dict[str, Any], request_id: str | None = None) -> ConverseResponse:
        message = (body.get("output") or {}).get("message") or {}
        return cls(
            content=list(message.get("content") or []),
            stop_reason=str(body.get("stopReason", "")),
            usage=TokenUsage.from_wire(body.get("usage")),
            latency_ms=int((body.get("metrics") or {}).get("latencyMs", 0)),
            request_id=request_id,
            raw=body,
        )


# --- ConverseStream events ----------------------------------------------------------------------


@dataclass(frozen=True)
class MessageStartEvent:
    role: str = "assistant"


@dataclass(frozen=True)
class ContentBlockStartEvent:
    index: int
    tool_use_id: str | None = None  # set when the block is a tool call
    tool_name: str | None = None


@dataclass(frozen=True)
class ContentBlockDeltaEvent:
    index: int
    text: str | None = None
    tool_input: str | None = None  # a JSON fragment; a block's fragments join into its input
    reasoning: str | None = None


@dataclass(frozen=True)
class ContentBlockStopEvent:
    index: int


@dataclass(frozen=True)
class MessageStopEvent:
    stop_reason: str


@dataclass(frozen=True)
class MetadataEvent:
    usage: TokenUsage
    latency_ms: int = 0
    trace: dict[str, Any] | None = None


StreamEvent = (
    MessageStartEvent
    | ContentBlockStartEvent
    | ContentBlockDeltaEvent
    | ContentBlockStopEvent
    | MessageStopEvent
    | MetadataEvent
)


def stream_event_from_wire(event_type: str, body: dict[str, Any]) -> StreamEvent | None:
    """One decoded ConverseStream event; ``None`` for event types this SDK does not know."""
    index = int(body.get("contentBlockIndex", 0))
    if event_type == "messageStart":
        return MessageStartEvent(str(body.get("role", "assistant")))
    if event_type == "contentBlockStart":
        tool = (body.get("start") or {}).get("toolUse") or {}
        return ContentBlockStartEvent(index, tool.get("toolUseId"), tool.get("name"))
    if event_type == "contentBlockDelta":
        delta = body.get("delta") or {}
        reasoning = (delta.get("reasoningContent") or {}).get("text")
        tool_input = (delta.get("toolUse") or {}).get("input")
        return ContentBlockDeltaEvent(index, delta.get("text"), tool_input, reasoning)
    if event_type == "contentBlockStop":
        return ContentBlockStopEvent(index)
    if event_type == "messageStop":
        return MessageStopEvent(str(body.get("stopReason", "")))
    if event_type == "metadata":
        latency = int((body.get("metrics") or {}).get("latencyMs", 0))
        return MetadataEvent(TokenUsage.from_wire(body.get("usage")), latency, body.get("trace"))
    return None  # like botocore: new event types are ignored by old clients


# --- models and embeddings ----------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSummary:
    model_id: str
    model_name: str
    provider_name: str
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    streaming: bool = False
    model_arn: str | None = None

    @classmethod
    def from_wire(cls, summary: dict[str, Any]) -> ModelSummary:
        return cls(
            model_id=summary["modelId"],
            model_name=summary.get("modelName", summary["modelId"]),
            provider_name=summary.get("providerName", ""),
            input_modalities=tuple(summary.get("inputModalities") or ()),
            output_modalities=tuple(summary.get("outputModalities") or ()),
            streaming=bool(summary.get("responseStreamingSupported", False)),
            model_arn=summary.get("modelArn"),
        )

    @property
    def is_embedding(self) -> bool:
        return "EMBEDDING" in self.output_modalities


@dataclass(frozen=True)
class Embeddings:
    model_id: str
    vectors: list[list[float]]
    input_tokens: int


@dataclass(frozen=True)
class ModelUsage:
    """One model's totals in a usage report."""

    model_id: str
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class UsageReport:
    """The calling tenant's metered usage (``GET /strata/v1/usage``), spend and budgets."""

    tenant_id: str
    models: list[ModelUsage]
    spend_today_usd: float
    spend_this_month_usd: float
    daily_budget_usd: float | None
    monthly_budget_usd: float | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> UsageReport:
        models = [
            ModelUsage(
                m["modelId"], m["requests"], m["errors"], m["inputTokens"], m["outputTokens"], m["costUsd"]
            )
            for m in body.get("models", [])
        ]
        spend, budgets = body.get("spend") or {}, body.get("budgets") or {}
        return cls(
            tenant_id=body.get("tenantId", ""),
            models=models,
            spend_today_usd=float(spend.get("dayUsd", 0.0)),
            spend_this_month_usd=float(spend.get("monthUsd", 0.0)),
            daily_budget_usd=budgets.get("dailyUsd"),
            monthly_budget_usd=budgets.get("monthlyUsd"),
            raw=body,
        )
