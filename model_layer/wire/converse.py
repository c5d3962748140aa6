"""Converse / ConverseStream ⇄ internal types, as small pure functions.

Inbound: a validated Converse body → :class:`ChatRequest` (messages and system blocks are kept as
Converse dicts, ``cachePoint`` blocks included, so a provider can honour prompt caching). Outbound:
a collected :class:`ChatResponse` → the Converse response JSON, and each stream event → the
``(event name, payload)`` pair ConverseStream sends. Usage reports ``inputTokens`` *without* cache
reads and writes (they travel in their own fields), as Bedrock does.
"""

from __future__ import annotations

from typing import Any

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
    StreamEvent,
    ToolSpec,
    Usage,
)
from model_layer.wire.validate import parse_schema


def chat_request_from_converse(
    model_id: str,
    body: dict[str, Any],
    *,
    request_id: str | None = None,
    timeout_s: float | None = None,
) -> ChatRequest:
    """A validated Converse (or ConverseStream / CountTokens ``converse``) body → ChatRequest."""
    _reject_unsupported(body)
    inference = body.get("inferenceConfig") or {}
    tools, tool_choice = tools_from_converse(body.get("toolConfig"))
    extra = body.get("additionalModelRequestFields") or {}
    if not isinstance(extra, dict):
        raise ValidationException("additionalModelRequestFields must be a JSON object")
    return ChatRequest(
        model_id=model_id,
        messages=list(body.get("messages") or []),
        system=list(body.get("system") or []),
        max_tokens=inference.get("maxTokens"),
        temperature=inference.get("temperature"),
        top_p=inference.get("topP"),
        stop_sequences=list(inference.get("stopSequences") or []),
        tools=tools,
        tool_choice=tool_choice,
        json_schema=json_schema_from_output_config(body.get("outputConfig")),
        extra=dict(extra),
        timeout_s=timeout_s,
        request_id=request_id,
    )


def _reject_unsupported(body: dict[str, Any]) -> None:
    # Refuse rather than silently ignore: a client relying on these would get the wrong behaviour.
    # (guardrailConfig is applied by the service: model_layer.guardrails.converse.)
    if body.get("promptVariables") is not None:
        raise ValidationException("promptVariables can only be used with a prompt management ARN")


def tools_from_converse(tool_config: dict[str, Any] | None) -> tuple[list[ToolSpec], dict[str, Any] | None]:
    """``toolConfig`` → tool specs and the tool choice (``{"auto"|"any": {}}`` or ``{"tool": {...}}``)."""
    if not tool_config:
        return [], None
    specs: list[ToolSpec] = []
    for tool in tool_config["tools"]:
        if "toolSpec" in tool:
            spec = tool["toolSpec"]
            specs.append(ToolSpec(spec["name"], spec.get("description") or "", spec["inputSchema"]["json"]))
        elif "systemTool" in tool:
            name = tool["systemTool"].get("name")
            raise ValidationException(f"System tool '{name}' is not supported by this gateway")
        # a cachePoint between tools only marks a cache boundary; nothing to translate
    return specs, tool_config.get("toolChoice")


def json_schema_from_output_config(output_config: dict[str, Any] | None) -> dict[str, Any] | None:
    """``outputConfig.textFormat`` (type json_schema, schema as a string) → the schema object."""
    text_format = (output_config or {}).get("textFormat")
    if not text_format:
        return None
    schema = text_format["structure"]["jsonSchema"]["schema"]
    return parse_schema(schema, "outputConfig.textFormat.structure.jsonSchema.schema")


# --- outbound -------------------------------------------------------------------------------------


def usage_json(usage: Usage) -> dict[str, int]:
    """Converse ``usage``; cache fields appear only when caching took part, as on Bedrock."""
    out = {
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "totalTokens": usage.total_tokens,
    }
    if usage.cache_read_input_tokens or usage.cache_write_input_tokens:
        out["cacheReadInputTokens"] = usage.cache_read_input_tokens
        out["cacheWriteInputTokens"] = usage.cache_write_input_tokens
    return out


def converse_response(response: ChatResponse, field_paths: list[str] | None = None) -> dict[str, Any]:
    """A collected response → the Converse response JSON."""
    out: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": response.content}},
        "stopReason": response.stop_reason,
        "usage": usage_json(response.usage),
        "metrics": {"latencyMs": response.latency_ms},
    }
    selected = select_response_fields(response.additional_fields, field_paths)
    if selected:
        out["additionalModelResponseFields"] = selected
    if response.trace:
        out["trace"] = response.trace
    return out


def select_response_fields(fields: dict[str, Any] | None, paths: list[str] | None) -> dict[str, Any] | None:
    """Resolve ``additionalModelResponseFieldPaths`` (JSON pointers) against the model's extra fields."""
    if not fields or not paths:
        return None
    selected: dict[str, Any] = {}
    for path in paths:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]
        node: Any = fields
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            _put(selected, parts, node)
    return selected or None


def _put(target: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def converse_stream_event(
    event: StreamEvent, field_paths: list[str] | None = None
) -> tuple[str, dict[str, Any]] | None:
    """One internal event → ``(ConverseStream member name, payload)``; ``None`` = nothing to send.

    Text blocks start straight with deltas (no ``contentBlockStart``), as AWS streams them.
    ``field_paths`` are the request's ``additionalModelResponseFieldPaths``.
    """
    if isinstance(event, MessageStart):
        return "messageStart", {"role": event.role}
    if isinstance(event, BlockStart):
        if event.tool_use is None:
            return None
        start = {"toolUse": {"toolUseId": event.tool_use.tool_use_id, "name": event.tool_use.name}}
        return "contentBlockStart", {"contentBlockIndex": event.index, "start": start}
    if isinstance(event, BlockDelta):
        return "contentBlockDelta", {"contentBlockIndex": event.index, "delta": _delta(event)}
    if isinstance(event, BlockStop):
        return "contentBlockStop", {"contentBlockIndex": event.index}
    if isinstance(event, MessageStop):
        payload: dict[str, Any] = {"stopReason": event.stop_reason}
        selected = select_response_fields(event.additional_fields, field_paths)
        if selected:
            payload["additionalModelResponseFields"] = selected
        return "messageStop", payload
    if isinstance(event, Metadata):
        payload = {"usage": usage_json(event.usage), "metrics": {"latencyMs": event.latency_ms}}
        if event.trace:
            payload["trace"] = event.trace
        return "metadata", payload
    return None


def _delta(event: BlockDelta) -> dict[str, Any]:
    if event.tool_input is not None:
        return {"toolUse": {"input": event.tool_input}}
    if event.reasoning is not None:
        return {"reasoningContent": {"text": event.reasoning}}
    return {"text": event.text or ""}
