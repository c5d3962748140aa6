"""The Anthropic messages body family for InvokeModel (``anthropic_version`` + ``messages``).

Request → :class:`ChatRequest` with Converse blocks (``cache_control`` becomes a ``cachePoint``
after the block), response → ``content[{type: text|tool_use|thinking}]``, and the stream →
``message_start``, ``content_block_start``/``_delta``/``_stop``, ``message_delta``, ``message_stop``.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from model_layer.errors import ValidationException
from model_layer.types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ChatRequest,
    ChatResponse,
    MessageStart,
    MessageStop,
    Metadata,
    ModelInfo,
    StopReason,
    StreamEvent,
    ToolSpec,
)
from model_layer.wire.native import NUMBER_0_1, STRINGS, ChunkStream, when

_ANTHROPIC_BLOCK = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"enum": ["text", "image", "tool_use", "tool_result", "thinking"]}},
    "allOf": [
        when("text", ["text"], {"text": {"type": "string"}}),
        when(
            "image",
            ["source"],
            {
                "source": {
                    "type": "object",
                    "required": ["type", "media_type", "data"],
                    "properties": {
                        "type": {"const": "base64"},
                        "media_type": {"enum": ["image/jpeg", "image/png", "image/gif", "image/webp"]},
                        "data": {"type": "string", "minLength": 1},
                    },
                }
            },
        ),
        when("tool_use", ["id", "name", "input"], {"id": {"type": "string"}, "input": {"type": "object"}}),
        when("tool_result", ["tool_use_id"], {"tool_use_id": {"type": "string"}}),
        when("thinking", ["thinking"], {"thinking": {"type": "string"}}),
    ],
}
_ANTHROPIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["anthropic_version", "max_tokens", "messages"],
    "additionalProperties": False,
    "properties": {
        "anthropic_version": {"type": "string"},
        "anthropic_beta": STRINGS,
        "max_tokens": {"type": "integer", "minimum": 1},
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "additionalProperties": False,
                "properties": {
                    "role": {"enum": ["user", "assistant"]},
                    "content": {
                        "anyOf": [
                            {"type": "string"},
                            {"type": "array", "minItems": 1, "items": _ANTHROPIC_BLOCK},
                        ]
                    },
                },
            },
        },
        "system": {"anyOf": [{"type": "string"}, {"type": "array", "items": _ANTHROPIC_BLOCK}]},
        "temperature": NUMBER_0_1,
        "top_p": NUMBER_0_1,
        "top_k": {"type": "integer", "minimum": 0},
        "stop_sequences": STRINGS,
        "tools": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "input_schema"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
                    "description": {"type": "string"},
                    "input_schema": {"type": "object"},
                },
            },
        },
        "tool_choice": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": ["auto", "any", "tool", "none"]}, "name": {"type": "string"}},
        },
        "metadata": {"type": "object"},
        "thinking": {"type": "object"},
    },
}

_ANTHROPIC_STOP: dict[str, str] = {"content_filtered": "refusal", "malformed_tool_use": "end_turn"}


class AnthropicMessages:
    """``anthropic_version`` + ``messages`` + ``max_tokens`` → ``content``, ``stop_reason``, ``usage``."""

    name: ClassVar[str] = "anthropic"
    kind: ClassVar[str] = "chat"
    schema: ClassVar[dict[str, Any]] = _ANTHROPIC_SCHEMA

    def to_request(self, model_id: str, body: dict[str, Any]) -> ChatRequest:
        choice = body.get("tool_choice") or {"type": "auto"}
        tools = [] if choice["type"] == "none" else body.get("tools") or []
        extra = {k: body[k] for k in ("top_k", "thinking", "anthropic_beta") if k in body}
        return ChatRequest(
            model_id=model_id,
            messages=[
                {"role": m["role"], "content": _converse_blocks(m["content"])} for m in body["messages"]
            ],
            system=_converse_blocks(body.get("system") or []),
            max_tokens=body["max_tokens"],
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            stop_sequences=list(body.get("stop_sequences") or []),
            tools=[ToolSpec(t["name"], t.get("description", ""), t["input_schema"]) for t in tools],
            tool_choice=_converse_tool_choice(choice) if tools else None,
            extra=extra,
        )

    def to_response(self, model: ModelInfo, response: ChatResponse) -> dict[str, Any]:
        return {
            "id": _message_id(),
            "type": "message",
            "role": "assistant",
            "model": model.model_id,
            "content": [_anthropic_block(b) for b in response.content if _anthropic_block(b)],
            "stop_reason": _ANTHROPIC_STOP.get(response.stop_reason, response.stop_reason),
            "stop_sequence": _matched_stop(response.stop_reason, response.additional_fields),
            "usage": {
                "input_tokens": response.usage.input_tokens,
                "output_tokens": response.usage.output_tokens,
                "cache_creation_input_tokens": response.usage.cache_write_input_tokens,
                "cache_read_input_tokens": response.usage.cache_read_input_tokens,
            },
        }

    def stream(self, model: ModelInfo) -> ChunkStream:
        return _AnthropicStream(model)


def _matched_stop(stop: StopReason, fields: dict[str, Any] | None) -> str | None:
    """The stop sequence that ended the answer (providers put it in the additional fields)."""
    return (fields or {}).get("stop_sequence") if stop == "stop_sequence" else None


def _message_id() -> str:
    return f"msg_bdrk_{uuid.uuid4().hex[:24]}"


def _converse_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic content (a string or typed blocks) → Converse content blocks."""
    if isinstance(content, str):
        return [{"text": content}]
    blocks: list[dict[str, Any]] = []
    for block in content:
        blocks.append(_converse_block(block))
        if "cache_control" in block:  # Anthropic marks the end of a cacheable prefix on the block
            blocks.append({"cachePoint": {"type": "default"}})
    return blocks


def _converse_block(block: dict[str, Any]) -> dict[str, Any]:
    kind = block["type"]
    if kind == "text":
        return {"text": block["text"]}
    if kind == "image":
        source = block["source"]
        return {"image": {"format": source["media_type"].split("/")[1], "source": {"bytes": source["data"]}}}
    if kind == "tool_use":
        return {"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block["input"]}}
    if kind == "tool_result":
        raw = block.get("content") or []
        parts = _converse_blocks(raw) if isinstance(raw, (str, list)) else [{"json": raw}]
        status = "error" if block.get("is_error") else "success"
        return {"toolResult": {"toolUseId": block["tool_use_id"], "content": parts, "status": status}}
    return {"reasoningContent": {"reasoningText": {"text": block["thinking"]}}}


def _converse_tool_choice(choice: dict[str, Any]) -> dict[str, Any]:
    if choice["type"] == "tool":
        if not choice.get("name"):
            raise ValidationException("Malformed input request: #/tool_choice: required key [name] not found")
        return {"tool": {"name": choice["name"]}}
    return {choice["type"]: {}}


def _anthropic_block(block: dict[str, Any]) -> dict[str, Any] | None:
    if "text" in block:
        return {"type": "text", "text": block["text"]}
    if "toolUse" in block:
        use = block["toolUse"]
        return {
            "type": "tool_use",
            "id": use["toolUseId"],
            "name": use["name"],
            "input": use.get("input", {}),
        }
    if "reasoningContent" in block:
        return {"type": "thinking", "thinking": block["reasoningContent"]["reasoningText"]["text"]}
    return None


class _AnthropicStream:
    """message_start → content_block_start/delta/stop… → message_delta → message_stop."""

    def __init__(self, model: ModelInfo):
        self.model = model
        self.open: set[int] = set()
        self.stop: StopReason = "end_turn"
        self.stop_sequence: str | None = None

    def translate(self, event: StreamEvent) -> list[dict[str, Any]]:
        if isinstance(event, MessageStart):
            # Input tokens are only known when the stream ends; the final chunk's metrics carry them.
            message = {
                "id": _message_id(),
                "type": "message",
                "role": "assistant",
                "model": self.model.model_id,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            return [{"type": "message_start", "message": message}]
        if isinstance(event, BlockStart) and event.tool_use is not None:
            self.open.add(event.index)
            use = {
                "type": "tool_use",
                "id": event.tool_use.tool_use_id,
                "name": event.tool_use.name,
                "input": {},
            }
            return [{"type": "content_block_start", "index": event.index, "content_block": use}]
        if isinstance(event, BlockDelta):
            return self._delta(event)
        if isinstance(event, BlockStop) and event.index in self.open:
            self.open.discard(event.index)
            return [{"type": "content_block_stop", "index": event.index}]
        if isinstance(event, MessageStop):
            self.stop = event.stop_reason
            self.stop_sequence = _matched_stop(event.stop_reason, event.additional_fields)
            closing = [{"type": "content_block_stop", "index": i} for i in sorted(self.open)]
            self.open.clear()
            return closing
        if isinstance(event, Metadata):
            delta = {
                "stop_reason": _ANTHROPIC_STOP.get(self.stop, self.stop),
                "stop_sequence": self.stop_sequence,
            }
            usage = {"output_tokens": event.usage.output_tokens}
            return [{"type": "message_delta", "delta": delta, "usage": usage}, {"type": "message_stop"}]
        return []

    def _delta(self, event: BlockDelta) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        if event.tool_input is not None:
            delta = {"type": "input_json_delta", "partial_json": event.tool_input}
        elif event.reasoning is not None:
            delta, start = (
                {"type": "thinking_delta", "thinking": event.reasoning},
                {"type": "thinking", "thinking": ""},
            )
        else:
            delta, start = {"type": "text_delta", "text": event.text or ""}, {"type": "text", "text": ""}
        if event.index not in self.open:
            self.open.add(event.index)
            chunks.append({"type": "content_block_start", "index": event.index, "content_block": start})
        chunks.append({"type": "content_block_delta", "index": event.index, "delta": delta})
        return chunks
