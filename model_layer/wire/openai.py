"""OpenAI's ``/v1`` wire: request models and pure translations to and from the gateway's types.

``chat_request_from_openai`` turns a chat-completion request into the Converse-shaped
:class:`ChatRequest`; ``completion_from_response``, :class:`ChunkTranslator` and
``embeddings_body`` turn answers back into OpenAI's objects. No I/O here: the router
(:mod:`model_layer.api.openai`) calls these, and the tests drive them table by table.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from model_layer.errors import ValidationException
from model_layer.types import (
    BlockDelta,
    BlockStart,
    ChatRequest,
    ChatResponse,
    MessageStop,
    Metadata,
    StreamEvent,
    ToolSpec,
    Usage,
)
from model_layer.wire.json_body import MalformedJSON, parse_json

# --- wire models (OpenAI's request shapes; unknown fields are accepted and ignored) -------------


class _Wire(BaseModel):
    # NaN/Infinity are not JSON; the strict body parser refuses them already, this keeps the models
    # honest for bodies that arrive another way (InvokeModel's OpenAI family).
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


class FunctionCall(_Wire):
    name: str
    arguments: str = ""


class ToolCall(_Wire):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDefinition(_Wire):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolDefinition(_Wire):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class StreamOptions(_Wire):
    include_usage: bool = False


class ChatCompletionRequest(_Wire):
    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)


class EmbeddingRequest(_Wire):
    model: str = Field(min_length=1, max_length=256)
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)


# --- OpenAI -> ChatRequest ----------------------------------------------------------------------

# Sampling options llama.cpp-style backends understand; passed on as additionalModelRequestFields.
_PASS_THROUGH = ("seed", "presence_penalty", "frequency_penalty")
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def invalid(message: str, param: str | None = None) -> ValidationException:
    return ValidationException(message, extra={"param": param} if param else None)


def _text_of(content: str | list[dict[str, Any]] | None, where: str) -> str:
    """Text of a system/tool message: a string or a list of text parts."""
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise invalid(f"{where} content parts must be text parts", where)
        parts.append(part["text"])
    return "".join(parts)


def _image_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise invalid(
            "image_url must be a data: URL with base64 content (the gateway fetches no URLs)", where
        )
    mime, _, data = url[len("data:") :].partition(";base64,")
    if mime not in _IMAGE_FORMATS:
        raise invalid(f"unsupported image type {mime!r}; use one of {sorted(_IMAGE_FORMATS)}", where)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("image_url data is not valid base64", where) from None
    if not raw:
        raise invalid("image_url data is empty", where)
    return {"image": {"format": _IMAGE_FORMATS[mime], "source": {"bytes": raw}}}


def _user_blocks(content: str | list[dict[str, Any]] | None, where: str) -> list[dict[str, Any]]:
    if content is None:
        raise invalid("user messages need content", where)
    if isinstance(content, str):
        return [{"text": content}]
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            blocks.append({"text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image_block(part, where))
        else:
            raise invalid(f"unsupported content part type {kind!r}", where)
    if not blocks:
        raise invalid("user message content is empty", where)
    return blocks


def _assistant_blocks(msg: ChatMessage, where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if isinstance(msg.content, list):
        text = "".join(p.get("text") or p.get("refusal") or "" for p in msg.content)
    else:
        text = msg.content or ""
    if text:
        blocks.append({"text": text})
    for call in msg.tool_calls or []:
        try:
            arguments = parse_json(call.function.arguments or "{}")
        except MalformedJSON as exc:
            message = f"tool call {call.id!r} arguments are not valid JSON: {exc.reason}"
            raise invalid(message, where) from None
        if not isinstance(arguments, dict):
            raise invalid(f"tool call {call.id!r} arguments must be a JSON object", where)
        blocks.append({"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": arguments}})
    if not blocks:
        raise invalid("assistant messages need content or tool_calls", where)
    return blocks


def _tool_result_block(msg: ChatMessage, where: str) -> dict[str, Any]:
    if not msg.tool_call_id:
        raise invalid("tool messages need tool_call_id", where)
    text = _text_of(msg.content, where)
    return {"toolResult": {"toolUseId": msg.tool_call_id, "content": [{"text": text}], "status": "success"}}


def converse_messages(
    messages: list[ChatMessage],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages → (Converse ``system`` blocks, alternating Converse ``messages``).

    System/developer messages become system blocks wherever they appear; tool messages become
    ``toolResult`` blocks in a user turn; consecutive turns of one role merge, because Converse
    requires user and assistant turns to alternate (parallel tool results share one turn).
    """
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if msg.role in ("system", "developer"):
            text = _text_of(msg.content, where)
            if text:
                system.append({"text": text})
            continue
        if msg.role == "user":
            role, blocks = "user", _user_blocks(msg.content, where)
        elif msg.role == "tool":
            role, blocks = "user", [_tool_result_block(msg, where)]
        else:
            role, blocks = "assistant", _assistant_blocks(msg, where)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        raise invalid("messages must include at least one user message", "messages")
    return system, turns


def _tool_choice(choice: str | dict[str, Any] | None, names: set[str]) -> dict[str, Any] | None:
    if choice is None or choice == "auto":
        return {"auto": {}} if names else None
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            raise invalid(f"tool_choice names unknown function {name!r}", "tool_choice")
        return {"tool": {"name": name}}
    raise invalid("tool_choice must be 'none', 'auto', 'required' or a function", "tool_choice")


def _json_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    if not response_format or response_format.get("type") in (None, "text"):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise invalid("response_format.json_schema.schema must be an object", "response_format")
        return schema
    raise invalid(f"unsupported response_format type {kind!r}", "response_format")


def chat_request_from_openai(body: ChatCompletionRequest, request_id: str | None = None) -> ChatRequest:
    """Translate an OpenAI chat-completion request into the gateway's ``ChatRequest``."""
    system, messages = converse_messages(body.messages)
    tools = [
        ToolSpec(
            name=t.function.name,
            description=t.function.description or t.function.name,
            input_schema=t.function.parameters or {"type": "object", "properties": {}},
        )
        for t in (body.tools or [])
    ]
    if len({t.name for t in tools}) != len(tools):
        raise invalid("tool names must be unique", "tools")
    if body.tool_choice == "none":
        tools, choice = [], None  # the model may not call tools: don't offer any
    else:
        choice = _tool_choice(body.tool_choice, {t.name for t in tools})
        if choice is not None and not tools:
            raise invalid("tool_choice needs tools", "tool_choice")
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if any(not s for s in stop) or len(stop) > 4:
        raise invalid("stop takes up to 4 non-empty strings", "stop")
    extra = {k: getattr(body, k) for k in _PASS_THROUGH if getattr(body, k) is not None}
    return ChatRequest(
        model_id=body.model,
        messages=messages,
        system=system,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop_sequences=stop,
        tools=tools,
        tool_choice=choice,
        json_schema=_json_schema(body.response_format),
        extra=extra,
        request_id=request_id,
    )


# --- ChatResponse / stream events -> OpenAI -----------------------------------------------------

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "stop",
    "malformed_tool_use": "tool_calls",
}


def openai_usage(usage: Usage) -> dict[str, Any]:
    """OpenAI counts cached prompt tokens inside ``prompt_tokens``; Bedrock keeps them apart.

    OpenAI caches prompts without being asked and says so in ``cached_tokens``, so the engine's
    own prefix reuse is reported here even where Bedrock's usage leaves it out (no cachePoint).
    """
    prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_write_input_tokens
    cached = max(usage.cache_read_input_tokens, usage.engine_cached_tokens)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def completion_from_response(
    response: ChatResponse, *, model: str, completion_id: str, created: int
) -> dict[str, Any]:
    """A collected ``ChatResponse`` as an OpenAI ``chat.completion`` object."""
    text = "".join(b["text"] for b in response.content if "text" in b)
    reasoning = "".join(
        b["reasoningContent"]["reasoningText"]["text"] for b in response.content if "reasoningContent" in b
    )
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    calls = [
        {
            "id": b["toolUse"]["toolUseId"],
            "type": "function",
            "function": {
                "name": b["toolUse"]["name"],
                "arguments": json.dumps(b["toolUse"].get("input", {})),
            },
        }
        for b in response.content
        if "toolUse" in b
    ]
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": FINISH_REASONS.get(response.stop_reason, "stop"),
                "logprobs": None,
            }
        ],
        "usage": openai_usage(response.usage),
        "system_fingerprint": None,
    }


class ChunkTranslator:
    """Turns the gateway's stream events into ``chat.completion.chunk`` dicts, one call per event.

    OpenAI numbers tool calls among themselves (0, 1, …) where Converse numbers content blocks,
    so the translator keeps that mapping. Usage arrives in the last event (``Metadata``) and is
    sent as a final chunk with no choices, only when the client asked (``include_usage``).
    """

    def __init__(self, *, model: str, completion_id: str, created: int, include_usage: bool = False):
        self._base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._include_usage = include_usage
        self._tool_index: dict[int, int] = {}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {**self._base, "choices": [choice]}

    def first(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""})

    def translate(self, event: StreamEvent) -> list[dict[str, Any]]:
        if isinstance(event, BlockStart) and event.tool_use is not None:
            index = self._tool_index.setdefault(event.index, len(self._tool_index))
            call = {
                "index": index,
                "id": event.tool_use.tool_use_id,
                "type": "function",
                "function": {"name": event.tool_use.name, "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if isinstance(event, BlockDelta):
            if event.tool_input is not None:
                index = self._tool_index.setdefault(event.index, len(self._tool_index))
                call = {"index": index, "function": {"arguments": event.tool_input}}
                return [self._chunk({"tool_calls": [call]})]
            if event.text is not None:
                return [self._chunk({"content": event.text})]
            if event.reasoning is not None:
                return [self._chunk({"reasoning_content": event.reasoning})]
        if isinstance(event, MessageStop):
            return [self._chunk({}, FINISH_REASONS.get(event.stop_reason, "stop"))]
        if isinstance(event, Metadata) and self._include_usage:
            return [{**self._base, "choices": [], "usage": openai_usage(event.usage)}]
        return []


def embeddings_body(
    vectors: list[list[float]], *, model: str, input_tokens: int, encoding_format: str = "float"
) -> dict[str, Any]:
    """OpenAI's embeddings list; ``base64`` is little-endian float32, as the openai SDK decodes it."""

    def encode(vector: list[float]) -> list[float] | str:
        if encoding_format == "base64":
            return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        return vector

    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": input_tokens, "total_tokens": input_tokens},
    }
