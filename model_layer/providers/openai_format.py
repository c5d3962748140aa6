"""Pure translations between Converse (the gateway's internal shape) and OpenAI chat completions.

Shared by every provider whose upstream speaks OpenAI's chat format: the local llama.cpp engine,
OpenAI-compatible servers and the SageMaker container contract. Converse → OpenAI request
(:func:`to_openai_messages`, :func:`inference_params`, :func:`openai_tools`), OpenAI stream chunks
→ stream events (:class:`StreamTranslator`), OpenAI usage → Bedrock usage (:func:`usage_from_openai`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from model_layer.errors import ValidationException
from model_layer.providers.stop_sequences import StopMatcher
from model_layer.types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ChatRequest,
    MessageStop,
    StopReason,
    StreamEvent,
    ToolSpec,
    ToolUseStart,
    Usage,
)

TEXT_DOCUMENT_FORMATS = frozenset({"txt", "md", "csv", "html"})
STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filtered",
}
# additionalModelRequestFields passed on to OpenAI-style servers (llama.cpp understands them all).
PASSTHROUGH_FIELDS = frozenset(
    {"top_k", "min_p", "seed", "repeat_penalty", "presence_penalty", "frequency_penalty", "logit_bias"}
)


@dataclass(frozen=True)
class Capabilities:
    """What the upstream model accepts; the rest is rejected with a ValidationException."""

    native_tools: bool = True  # OpenAI tool_calls/tool messages; False: tool turns as JSON text
    images: bool = False


def _document_text(block: dict[str, Any], model_id: str) -> str:
    doc = block["document"]
    fmt, source = doc.get("format", "txt"), doc.get("source", {})
    if fmt not in TEXT_DOCUMENT_FORMATS:
        raise ValidationException(f"Model {model_id} does not support {fmt} documents")
    if "text" in source:
        body = source["text"]
    elif "content" in source:
        body = "\n".join(part.get("text", "") for part in source["content"])
    elif "bytes" in source:
        raw = source["bytes"]
        raw = base64.b64decode(raw) if isinstance(raw, str) else raw
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationException(f"document {doc.get('name')!r} is not UTF-8 text") from None
    else:
        raise ValidationException(f"document {doc.get('name')!r}: only inline sources are supported")
    return f"Document {doc.get('name', '')}:\n{body}"


def _image_part(block: dict[str, Any], model_id: str, caps: Capabilities) -> dict[str, Any]:
    if not caps.images:
        raise ValidationException(f"Model {model_id} does not support images")
    image = block["image"]
    raw = image.get("source", {}).get("bytes")
    if raw is None:
        raise ValidationException("images must be sent inline (source.bytes), not from S3")
    data = raw if isinstance(raw, str) else base64.b64encode(raw).decode()
    return {"type": "image_url", "image_url": {"url": f"data:image/{image['format']};base64,{data}"}}


def tool_result_text(result: dict[str, Any]) -> str:
    """A toolResult's content as text (json parts serialised)."""
    parts = []
    for item in result.get("content", []):
        if "text" in item:
            parts.append(item["text"])
        elif "json" in item:
            parts.append(json.dumps(item["json"]))
        elif "document" in item:
            parts.append(_document_text(item, "tool"))
    text = "\n".join(parts)
    return f"(error) {text}" if result.get("status") == "error" else text


def tool_call_json(tool_use: dict[str, Any]) -> str:
    """How a past tool call reads to a model without native tools (the grammar's own format)."""
    return json.dumps({"name": tool_use["name"], "input": tool_use.get("input", {})})


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _message(role: str, blocks: list[dict[str, Any]], model_id: str, caps: Capabilities) -> list[dict]:
    """One Converse message → one or more OpenAI messages (tool results become their own)."""
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    for block in blocks:
        if "text" in block or "guardContent" in block:
            text = block["text"] if "text" in block else block["guardContent"].get("text", {}).get("text", "")
            parts.append({"type": "text", "text": text})
        elif "image" in block:
            parts.append(_image_part(block, model_id, caps))
        elif "document" in block:
            parts.append({"type": "text", "text": _document_text(block, model_id)})
        elif "toolUse" in block and caps.native_tools:
            use = block["toolUse"]
            arguments = json.dumps(use.get("input", {}))
            function = {"name": use["name"], "arguments": arguments}
            tool_calls.append({"id": use["toolUseId"], "type": "function", "function": function})
        elif "toolUse" in block:
            parts.append({"type": "text", "text": tool_call_json(block["toolUse"])})
        elif "toolResult" in block and caps.native_tools:
            result = block["toolResult"]
            extra.append(
                {"role": "tool", "tool_call_id": result["toolUseId"], "content": tool_result_text(result)}
            )
        elif "toolResult" in block:
            result = block["toolResult"]
            text = f"Result of tool call {result['toolUseId']}: {tool_result_text(result)}"
            parts.append({"type": "text", "text": text})
        elif "video" in block or "audio" in block:
            kind = "video" if "video" in block else "audio"
            raise ValidationException(f"Model {model_id} does not support {kind}")
        # cachePoint and reasoningContent carry nothing the upstream model reads.
    out = list(extra)
    if parts or tool_calls:
        message: dict[str, Any] = {"role": role, "content": _content(parts) if parts else None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        out.append(message)
    return out


def system_text(system: list[dict[str, Any]]) -> str:
    texts = []
    for block in system:
        if "text" in block:
            texts.append(block["text"])
        elif "guardContent" in block:
            texts.append(block["guardContent"].get("text", {}).get("text", ""))
    return "\n".join(t for t in texts if t)


def to_openai_messages(
    request: ChatRequest, caps: Capabilities = Capabilities(), *, system_prefix: str = ""
) -> list[dict[str, Any]]:
    """Converse ``system`` + ``messages`` → OpenAI chat messages."""
    out: list[dict[str, Any]] = []
    system = "\n\n".join(t for t in (system_prefix, system_text(request.system)) if t)
    if system:
        out.append({"role": "system", "content": system})
    for message in request.messages:
        out.extend(_message(message["role"], message.get("content", []), request.model_id, caps))
    return out


def cache_prefix(request: ChatRequest) -> ChatRequest | None:
    """The request cut after its last ``cachePoint`` (system or messages), or None without one."""
    for m_index in range(len(request.messages) - 1, -1, -1):
        content = request.messages[m_index].get("content", [])
        for b_index in range(len(content) - 1, -1, -1):
            if "cachePoint" in content[b_index]:
                last = {**request.messages[m_index], "content": content[:b_index]}
                kept = (
                    [*request.messages[:m_index], last] if content[:b_index] else request.messages[:m_index]
                )
                return replace(request, messages=kept)
    for s_index in range(len(request.system) - 1, -1, -1):
        if "cachePoint" in request.system[s_index]:
            return replace(request, system=request.system[:s_index], messages=[])
    return None


def caching_prefix(request: ChatRequest) -> int | None:
    """``prefix_tokens`` for :func:`usage_from_openai` when the prefix's size is not known:
    0 if the request asked for caching (has a ``cachePoint``), else None."""
    return 0 if cache_prefix(request) is not None else None


def inference_params(
    request: ChatRequest, default_max_tokens: int | None = None, *, stop: bool = True
) -> dict[str, Any]:
    """inferenceConfig + whitelisted additionalModelRequestFields → OpenAI body fields.

    ``stop=False`` leaves the stop sequences out, for a provider that matches them itself.
    """
    body: dict[str, Any] = {}
    max_tokens = request.max_tokens or default_max_tokens
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if stop and request.stop_sequences:
        body["stop"] = list(request.stop_sequences)
    for key, value in request.extra.items():
        if key not in PASSTHROUGH_FIELDS:
            raise ValidationException(
                f"additionalModelRequestFields.{key} is not supported by model {request.model_id} "
                f"(supported: {', '.join(sorted(PASSTHROUGH_FIELDS))})"
            )
        body[key] = value
    return body


def openai_tools(tools: list[ToolSpec], tool_choice: dict[str, Any] | None) -> dict[str, Any]:
    """Converse toolConfig → OpenAI ``tools`` + ``tool_choice``."""
    if not tools:
        return {}
    specs = [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description or t.name,
                "parameters": t.input_schema,
            },
        }
        for t in tools
    ]
    body: dict[str, Any] = {"tools": specs}
    if tool_choice and "any" in tool_choice:
        body["tool_choice"] = "required"
    elif tool_choice and "tool" in tool_choice:
        body["tool_choice"] = {"type": "function", "function": {"name": tool_choice["tool"]["name"]}}
    return body


def json_schema_format(schema: dict[str, Any], name: str = "response") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def usage_from_openai(usage: dict[str, Any] | None, prefix_tokens: int | None = None) -> Usage:
    """OpenAI usage → Bedrock usage, reported the way Bedrock reports it.

    ``prefix_tokens`` is None when the request has no ``cachePoint``: then ``inputTokens`` is the
    whole prompt and no cache fields are set, as on Bedrock (a client that prices inputTokens
    would otherwise undercount whenever the engine happened to reuse a prefix). With a
    cachePoint (``prefix_tokens`` = the tokens up to it, 0 if unknown), cache reads are the
    upstream's real prefix reuse (``prompt_tokens_details.cached_tokens``) and cache writes the
    part of the prefix computed, and so stored, this time; input tokens exclude both. Either way
    the reuse is kept in ``engine_cached_tokens`` for the metrics.
    """
    if not usage:
        return Usage()
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = min(prompt, int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0))
    output = int(usage.get("completion_tokens") or 0)
    if prefix_tokens is None:
        return Usage(input_tokens=prompt, output_tokens=output, engine_cached_tokens=cached)
    write = max(0, min(prefix_tokens, prompt) - cached)
    return Usage(
        input_tokens=max(0, prompt - cached - write),
        output_tokens=output,
        cache_read_input_tokens=cached,
        cache_write_input_tokens=write,
        engine_cached_tokens=cached,
    )


class StreamTranslator:
    """Folds OpenAI ``chat.completion.chunk`` dicts into Converse stream events (block by block).

    - ``stop_sequences`` are ones the upstream was *not* given: they are matched here
      (:class:`~model_layer.providers.stop_sequences.StopMatcher`), so the answer can end as
      ``stop_sequence``; the caller stops reading the upstream once :attr:`stopped`. An upstream
      that names the stop sequence it matched (vLLM's ``stop_reason``) is believed too.
    - :attr:`usage` is the upstream's usage chunk or, for a stream cut short by the gateway,
      what llama.cpp's per-token ``timings`` say was processed.
    """

    def __init__(self, stop_sequences: Sequence[str] = ()):
        self._open: int | None = None  # index of the block currently open
        self._open_kind: str | None = None  # "text" | "reasoning" | "tool:<openai index>"
        self._next = 0
        self._seen_tools: set[int] = set()
        self._stops = StopMatcher(stop_sequences)
        self._upstream_stop: str | None = None
        self.finish_reason: str | None = None
        self.reported_usage: dict[str, Any] | None = None
        self.timings: dict[str, Any] | None = None

    @property
    def stopped(self) -> bool:
        """A stop sequence matched: the answer is complete, read no more of the upstream."""
        return self._stops.matched is not None

    @property
    def usage(self) -> dict[str, Any] | None:
        return self.reported_usage or usage_from_timings(self.timings)

    def _switch(self, kind: str, start: BlockStart | None = None) -> list[StreamEvent]:
        if self._open_kind == kind:
            return []
        events: list[StreamEvent] = self._close()
        self._open, self._open_kind = self._next, kind
        self._next += 1
        if start is not None:
            events.append(replace(start, index=self._open))
        return events

    def _close(self) -> list[StreamEvent]:
        if self._open is None:
            return []
        index, self._open, self._open_kind = self._open, None, None
        return [BlockStop(index)]

    def _text(self, text: str) -> list[StreamEvent]:
        if not text:
            return []
        events = self._switch("text")
        return [*events, BlockDelta(self._open or 0, text=text)]

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        if chunk.get("usage"):
            self.reported_usage = chunk["usage"]
        if chunk.get("timings"):
            self.timings = chunk["timings"]
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or []:
            if self.stopped:
                break
            delta = choice.get("delta") or choice.get("message") or {}
            if delta.get("content"):
                events += self._text(self._stops.feed(delta["content"]))
            if delta.get("reasoning_content") or delta.get("tool_calls"):
                events += self._text(self._stops.flush())  # held text belongs before the next block
            if delta.get("reasoning_content"):
                events += self._switch("reasoning")
                events.append(BlockDelta(self._open or 0, reasoning=delta["reasoning_content"]))
            for call in delta.get("tool_calls") or []:
                events += self._tool_delta(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            if isinstance(choice.get("stop_reason"), str):  # vLLM: the stop string that matched
                self._upstream_stop = choice["stop_reason"]
        return events

    def _tool_delta(self, call: dict[str, Any]) -> list[StreamEvent]:
        position = int(call.get("index", len(self._seen_tools)))
        function = call.get("function") or {}
        events: list[StreamEvent] = []
        if position not in self._seen_tools:
            self._seen_tools.add(position)
            name = function.get("name", "")
            start = BlockStart(0, ToolUseStart(call.get("id") or f"tooluse_{position}", name))
            events += self._switch(f"tool:{position}", start)
        if function.get("arguments"):
            events.append(BlockDelta(self._open or 0, tool_input=function["arguments"]))
        return events

    def finish(self) -> list[StreamEvent]:
        """Close the open block and stop the message (call once the upstream stream ended)."""
        events = [*self._text(self._stops.flush()), *self._close()]
        matched = self._stops.matched or (self._upstream_stop if self.finish_reason == "stop" else None)
        if matched is not None:
            return [*events, MessageStop("stop_sequence", {"stop_sequence": matched})]
        stop = STOP_REASONS.get(self.finish_reason or "stop", "end_turn")
        if self._seen_tools and stop == "end_turn":
            stop = "tool_use"  # some servers say "stop" after tool calls
        return [*events, MessageStop(stop)]


def usage_from_timings(timings: dict[str, Any] | None) -> dict[str, Any] | None:
    """llama.cpp's per-token ``timings`` (``timings_per_token``) as OpenAI usage, or None."""
    if not timings or "prompt_n" not in timings:
        return None
    cached = int(timings.get("cache_n") or 0)
    return {
        "prompt_tokens": int(timings.get("prompt_n") or 0) + cached,
        "completion_tokens": int(timings.get("predicted_n") or 0),
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def completion_as_chunk(completion: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` as one chunk, so both go through StreamTranslator."""
    choices = []
    for choice in completion.get("choices") or []:
        message = dict(choice.get("message") or {})
        calls = [{**c, "index": i} for i, c in enumerate(message.get("tool_calls") or [])]
        message["tool_calls"] = calls
        choices.append(
            {"index": choice.get("index", 0), "delta": message, "finish_reason": choice.get("finish_reason")}
        )
    return {"choices": choices, "usage": completion.get("usage"), "timings": completion.get("timings")}
