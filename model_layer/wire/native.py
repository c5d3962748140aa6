"""What every InvokeModel body family shares: the two family Protocols and body checking.

A *family* is one model-native JSON format (Anthropic messages, Titan text, …; see
``model_layer.wire.invoke`` for the list). Each declares a JSON Schema for its request body;
:func:`check_native_body` reports violations in the words Bedrock uses for native bodies
(``Malformed input request: #/max_tokens: …, please reformat your input and try again.``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Protocol

import jsonschema

from model_layer.errors import ValidationException
from model_layer.types import ChatRequest, ChatResponse, EmbeddingResult, ModelInfo, StreamEvent, Usage

# JSON Schema pieces the family schemas share.
NUMBER_0_1: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": 1}
STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string", "minLength": 1}}


def when(kind: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """Schema clause: blocks whose ``type`` is ``kind`` need ``required`` and match ``properties``."""
    return {
        "if": {"properties": {"type": {"const": kind}}},
        "then": {"required": required, "properties": properties},
    }


class ChunkStream(Protocol):
    """Turns internal stream events into the family's stream chunks (JSON objects)."""

    def translate(self, event: StreamEvent) -> list[dict[str, Any]]:
        """Chunks to send for ``event``; the :class:`Metadata` event yields the final ones."""
        ...


class ChatFamily(Protocol):
    name: ClassVar[str]
    kind: ClassVar[str]  # "chat"
    schema: ClassVar[dict[str, Any]]

    def to_request(self, model_id: str, body: dict[str, Any]) -> ChatRequest: ...

    def to_response(self, model: ModelInfo, response: ChatResponse) -> dict[str, Any]: ...

    def stream(self, model: ModelInfo) -> ChunkStream: ...


class EmbeddingFamily(Protocol):
    name: ClassVar[str]
    kind: ClassVar[str]  # "embedding"
    schema: ClassVar[dict[str, Any]]

    def texts(self, body: dict[str, Any]) -> list[str]: ...

    def to_response(self, body: dict[str, Any], result: EmbeddingResult) -> dict[str, Any]: ...


# Schemas are module constants; the entry keeps the schema alive so its id is never reused.
_VALIDATORS: dict[int, tuple[dict[str, Any], jsonschema.Draft202012Validator]] = {}


def _compiled(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    entry = _VALIDATORS.get(id(schema))
    if entry is None:
        entry = _VALIDATORS[id(schema)] = (schema, jsonschema.Draft202012Validator(schema))
    return entry[1]


def check_native_body(body: Any, schema: dict[str, Any]) -> None:
    """Validate a model-native body against its family's schema; raise one ValidationException."""
    errors = sorted(_compiled(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    # one entry per violation; jsonschema reports each missing key separately, _describe lists them all
    described = list(dict.fromkeys(_describe(e) for e in errors))
    shown = "; ".join(described[:5])
    more = f" ({len(described)} schema violations found)" if len(described) > 1 else ""
    raise ValidationException(
        f"Malformed input request: {shown}{more}, please reformat your input and try again."
    )


def _describe(error: jsonschema.ValidationError) -> str:
    pointer = "#" + "".join(f"/{p}" for p in error.absolute_path)
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in (error.instance or {})]
        return f"{pointer}: required key [{', '.join(missing)}] not found"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        return f"{pointer}: extraneous key [{', '.join(extra)}] is not permitted"
    return f"{pointer}: {error.message}"


def first(items: Iterable[Any], default: Any = None) -> Any:
    return next(iter(items), default)


def invocation_metrics(usage: Usage, latency_ms: int, first_byte_ms: int) -> dict[str, int]:
    """``amazon-bedrock-invocationMetrics``, carried by the last chunk of a response stream."""
    metrics = {
        "inputTokenCount": usage.input_tokens,
        "outputTokenCount": usage.output_tokens,
        "invocationLatency": latency_ms,
        "firstByteLatency": first_byte_ms,
    }
    if usage.cache_read_input_tokens or usage.cache_write_input_tokens:
        metrics["cacheReadInputTokenCount"] = usage.cache_read_input_tokens
        metrics["cacheWriteInputTokenCount"] = usage.cache_write_input_tokens
    return metrics


def usage_headers(usage: Usage, latency_ms: int) -> dict[str, str]:
    """InvokeModel's usage response headers (langchain's ChatBedrock reads these)."""
    return {
        "X-Amzn-Bedrock-Input-Token-Count": str(usage.input_tokens),
        "X-Amzn-Bedrock-Output-Token-Count": str(usage.output_tokens),
        "X-Amzn-Bedrock-Cache-Read-Input-Token-Count": str(usage.cache_read_input_tokens),
        "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": str(usage.cache_write_input_tokens),
        "X-Amzn-Bedrock-Invocation-Latency": str(latency_ms),
    }
