"""Guardrails inside a model call (Converse, ConverseStream, InvokeModel, OpenAI chat): Bedrock's rules.

- **What is checked on input**: with no ``guardContent`` block, the text of every message; once a
  message has ``guardContent`` blocks, only those (with their qualifiers: a grounding source and a
  query turn on contextual grounding); the system prompt only through its ``guardContent``.
  Tool results and tool definitions are not checked, as on Bedrock.
- **Input blocked**: the model is not called; the answer is the configured blocked-input message
  with stopReason ``guardrail_intervened``. **Input masked** (ANONYMIZE): the model sees the
  masked text.
- **Output**: the model's text is checked in chunks of up to one text unit (1,000 characters) at
  word boundaries. ``sync`` (the default) holds each chunk until it passed; ``async`` sends text
  at once and checks behind it (masking is then impossible, as on Bedrock). A blocked chunk ends
  the answer with the blocked-output message and stopReason ``guardrail_intervened`` (the model is
  stopped); a masked chunk goes out masked.
- **Trace**: with ``trace`` ``enabled`` (interventions) or ``enabled_full`` (every evaluated
  filter), the last event (``metadata``) carries ``trace.guardrail`` as AWS shapes it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import regex

from model_layer.errors import ValidationException
from model_layer.guardrails.engine import GuardrailResult
from model_layer.guardrails.policies.base import TextBlock
from model_layer.types import (
    BlockDelta,
    BlockStop,
    ChatRequest,
    MessageStart,
    MessageStop,
    Metadata,
    StreamEvent,
    Usage,
)

CHUNK_CHARS = 1000  # one text unit: what a sync stream holds back at most before it is checked
INTERVENED_STOP = "guardrail_intervened"


@dataclass(frozen=True)
class GuardrailConfig:
    """Which guardrail a call applies, and how (Converse's ``guardrailConfig``)."""

    identifier: str
    version: str
    trace: str = "disabled"  # enabled | enabled_full | disabled
    stream_mode: str = "sync"  # sync | async

    @classmethod
    def from_converse(cls, config: dict[str, Any] | None) -> GuardrailConfig | None:
        if config is None:
            return None
        identifier, version = config.get("guardrailIdentifier"), config.get("guardrailVersion")
        if not identifier or not version:
            raise ValidationException(
                "guardrailConfig must name both guardrailIdentifier and guardrailVersion"
            )
        trace, mode = config.get("trace") or "disabled", config.get("streamProcessingMode") or "sync"
        return cls(identifier, version, trace, mode)

    @property
    def full(self) -> bool:
        return self.trace == "enabled_full"


@dataclass
class GuardedCall:
    """One call's guardrail results, for its trace."""

    config: GuardrailConfig
    compiled: Any = None  # the CompiledGuardrail applied (its blocked messages)
    input: GuardrailResult | None = None
    outputs: list[GuardrailResult] = field(default_factory=list)
    model_output: list[str] = field(default_factory=list)  # the text a blocked output replaced

    @property
    def intervened(self) -> bool:
        return any(r.intervened for r in [self.input, *self.outputs] if r is not None)

    def trace(self) -> dict[str, Any] | None:
        if self.config.trace not in ("enabled", "enabled_full"):
            return None
        if self.compiled is None:
            return None
        key = self.compiled.guardrail_id
        out: dict[str, Any] = {}
        if self.model_output:
            out["modelOutput"] = self.model_output
        if self.input is not None:
            out["inputAssessment"] = {key: _assessment(self.input)}
        if self.outputs:
            out["outputAssessments"] = {key: [_assessment(r) for r in self.outputs]}
        reasons = [r.action_reason for r in [self.input, *self.outputs] if r is not None and r.intervened]
        out["actionReason"] = reasons[0] if reasons else "No action."
        return {"guardrail": out}


def _assessment(result: GuardrailResult) -> dict[str, Any]:
    if result.assessments:
        return result.assessments[0]
    return {"invocationMetrics": {"guardrailProcessingLatency": result.latency_ms, "usage": result.usage,
                                  "guardrailCoverage": result.coverage}}  # fmt: skip


# --- input ---------------------------------------------------------------------------------------

# Where a checked text came from: ("messages", message index, block index) or ("system", block index).
Ref = tuple


def input_blocks(request: ChatRequest) -> tuple[list[TextBlock], list[Ref]]:
    blocks: list[TextBlock] = []
    refs: list[Ref] = []
    guarded = any("guardContent" in b for m in request.messages for b in m.get("content", []))
    for i, message in enumerate(request.messages):
        for j, block in enumerate(message.get("content", [])):
            text = _guard_text(block)
            if text is not None:
                blocks.append(TextBlock(text[0], text[1]))
                refs.append(("messages", i, j))
            elif not guarded and "text" in block:
                blocks.append(TextBlock(block["text"]))
                refs.append(("messages", i, j))
    for j, block in enumerate(request.system):
        text = _guard_text(block)
        if text is not None:
            blocks.append(TextBlock(text[0], text[1]))
            refs.append(("system", j))
    return blocks, refs


def _guard_text(block: dict[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    guard = block.get("guardContent")
    if not guard or "text" not in guard:
        return None
    return guard["text"]["text"], tuple(guard["text"].get("qualifiers") or ())


def mask_input(request: ChatRequest, refs: list[Ref], texts: list[str]) -> None:
    """Put the masked texts where they came from (new lists: the caller's body stays as sent)."""
    request.messages = [{**m, "content": list(m.get("content", []))} for m in request.messages]
    request.system = list(request.system)
    for ref, text in zip(refs, texts, strict=True):
        target = request.system if ref[0] == "system" else request.messages[ref[1]]["content"]
        index = ref[-1]
        block = target[index]
        if "guardContent" in block:
            inner = {**block["guardContent"]["text"], "text": text}
            target[index] = {"guardContent": {"text": inner}}
        else:
            target[index] = {**block, "text": text}


def blocked_events(message: str, call: GuardedCall) -> list[StreamEvent]:
    """The whole answer to a call whose input was blocked: no model, no tokens."""
    return [
        MessageStart(),
        BlockDelta(0, text=message),
        BlockStop(0),
        MessageStop(INTERVENED_STOP),
        Metadata(Usage(), 0, call.trace()),
    ]


# --- output --------------------------------------------------------------------------------------

Check = Callable[[list[TextBlock]], Any]  # async: the OUTPUT evaluation of some text


async def guard_output(
    events: AsyncIterator[StreamEvent],
    check: Check,
    call: GuardedCall,
    blocked_message: str,
    usage_so_far: Callable[[int], Usage],
) -> AsyncIterator[StreamEvent]:
    """The model's events with its text checked (and held back, in sync mode) chunk by chunk."""
    guard = _OutputGuard(check, call, blocked_message)
    try:
        async for event in events:
            async for out in guard.feed(event):
                yield out
            if call.model_output:  # blocked: the answer ends here, the model is stopped
                yield from_usage(usage_so_far(guard.deltas), call)
                return
    finally:
        await events.aclose()


class _OutputGuard:
    def __init__(self, check: Check, call: GuardedCall, blocked_message: str):
        self.check, self.call, self.blocked_message = check, call, blocked_message
        self.sync = call.config.stream_mode != "async"
        self.pending: dict[int, str] = {}
        self.deltas = 0

    async def feed(self, event: StreamEvent) -> AsyncIterator[StreamEvent]:
        if isinstance(event, BlockDelta) and event.text is not None:
            self.deltas += 1
            if not self.sync:
                yield event
            text = self.pending.get(event.index, "") + event.text
            if len(text) < CHUNK_CHARS:
                self.pending[event.index] = text
                return
            chunk, self.pending[event.index] = _split_chunk(text)
            async for out in _checked(
                self.check, self.call, event.index, chunk, self.blocked_message, self.sync
            ):
                yield out
            return
        if isinstance(event, (BlockStop, MessageStop)):
            indexes = [event.index] if isinstance(event, BlockStop) else list(self.pending)
            for index in indexes:
                chunk = self.pending.pop(index, "")
                async for out in _checked(
                    self.check, self.call, index, chunk, self.blocked_message, self.sync
                ):
                    yield out
                if self.call.model_output:
                    return
        yield self._final(event)

    def _checked(self, index: int, chunk: str) -> AsyncIterator[StreamEvent]:
        return _checked(self.check, self.call, index, chunk, self.blocked_message, self.sync)

    def _final(self, event: StreamEvent) -> StreamEvent:
        if isinstance(event, MessageStop) and self.call.intervened:
            return MessageStop(INTERVENED_STOP, event.additional_fields)
        if isinstance(event, Metadata):
            return Metadata(event.usage, event.latency_ms, self.call.trace())
        return event


def from_usage(usage: Usage, call: GuardedCall) -> Metadata:
    return Metadata(usage, 0, call.trace())


async def _checked(check, call, index, chunk, blocked_message, sync) -> AsyncIterator[StreamEvent]:
    if not chunk:
        return
    result: GuardrailResult = await check([TextBlock(chunk)])
    call.outputs.append(result)
    if result.blocked:
        call.model_output.append(json.dumps({"text": chunk}))
        yield BlockDelta(index, text=("" if sync else "\n") + blocked_message)
        yield BlockStop(index)
        yield MessageStop(INTERVENED_STOP)
        return
    if sync:
        yield BlockDelta(index, text=result.texts[0] if result.intervened else chunk)


def _split_chunk(text: str) -> tuple[str, str]:
    """Cut at the last whitespace before :data:`CHUNK_CHARS` (a word is never split across checks)."""
    cut = text.rfind(" ", 0, CHUNK_CHARS)
    cut = CHUNK_CHARS if cut <= 0 else cut + 1
    return text[:cut], text[cut:]


# --- the OpenAI route's extension ----------------------------------------------------------------

_ID = regex.compile(r"[a-z0-9]+|arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+")
_VERSION = regex.compile(r"[1-9][0-9]{0,7}|DRAFT")
_CHOICES = {"trace": ("enabled", "disabled", "enabled_full"), "streamProcessingMode": ("sync", "async")}


def openai_guardrail_config(raw: Any) -> GuardrailConfig | None:
    """``guardrailConfig`` in a ``/v1/chat/completions`` body: Converse's shape, checked the same way."""
    if raw is None:
        return None
    param = "guardrailConfig"
    if not isinstance(raw, dict):
        raise ValidationException("guardrailConfig must be an object", extra={"param": param})
    known = {"guardrailIdentifier", "guardrailVersion", *_CHOICES}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValidationException(
            f"guardrailConfig has unknown fields: {', '.join(unknown)}", extra={"param": param}
        )
    identifier, version = raw.get("guardrailIdentifier"), raw.get("guardrailVersion")
    if not isinstance(identifier, str) or not _ID.fullmatch(identifier):
        raise ValidationException(
            "guardrailConfig.guardrailIdentifier must be a guardrail id or ARN", extra={"param": param}
        )
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ValidationException(
            "guardrailConfig.guardrailVersion must be DRAFT or a version number", extra={"param": param}
        )
    for key, choices in _CHOICES.items():
        if key in raw and raw[key] not in choices:
            raise ValidationException(
                f"guardrailConfig.{key} must be one of {', '.join(choices)}", extra={"param": param}
            )
    return GuardrailConfig.from_converse(raw)


# --- InvokeModel ------------------------------------------------------------------------------------

_INVOKE_TRACE = {"ENABLED": "enabled", "ENABLED_FULL": "enabled_full", "DISABLED": "disabled"}


def invoke_guardrail_config(params: dict[str, Any]) -> GuardrailConfig | None:
    """From InvokeModel's ``X-Amzn-Bedrock-GuardrailIdentifier`` / ``-GuardrailVersion`` / ``-Trace``."""
    identifier, version = params.get("guardrailIdentifier"), params.get("guardrailVersion")
    if identifier is None and version is None:
        return None
    if not identifier or not version:
        raise ValidationException(
            "X-Amzn-Bedrock-GuardrailIdentifier and X-Amzn-Bedrock-GuardrailVersion must be sent together"
        )
    return GuardrailConfig(
        identifier, version, _INVOKE_TRACE.get(params.get("trace") or "DISABLED", "disabled")
    )


def invoke_guardrail_fields(stop_reason: str | None, trace: dict[str, Any] | None) -> dict[str, Any]:
    """What AWS adds to an InvokeModel body (or the last stream chunk) when a guardrail applied."""
    out: dict[str, Any] = {
        "amazon-bedrock-guardrailAction": "INTERVENED" if stop_reason == INTERVENED_STOP else "NONE"
    }
    if trace:
        out["amazon-bedrock-trace"] = trace
    return out
