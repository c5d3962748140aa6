"""Small helpers every provider shares: model infos from config, ids, text of Converse blocks."""

from __future__ import annotations

import secrets
import time
from typing import Any

from model_layer.config import ModelConfig
from model_layer.errors import (
    GatewayError,
    InternalServerException,
    ModelErrorException,
    ModelNotReadyException,
    ModelTimeoutException,
    ResourceNotFoundException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)
from model_layer.types import ChatRequest, ModelInfo

ERRORS_BY_CODE: dict[str, type[GatewayError]] = {
    cls.code: cls
    for cls in (
        ThrottlingException,
        ServiceUnavailableException,
        InternalServerException,
        ModelNotReadyException,
        ModelTimeoutException,
        ModelErrorException,
        ValidationException,
        ResourceNotFoundException,
    )
}


def model_info(model: ModelConfig, default_provider_name: str) -> ModelInfo:
    """The ModelInfo the API layer shows for one configured model."""
    chat = model.kind == "chat"
    return ModelInfo(
        model_id=model.id,
        name=model.name or model.id,
        provider_name=model.provider_name or default_provider_name,
        kind=model.kind,
        input_modalities=tuple(model.input_modalities),
        output_modalities=("TEXT",) if chat else ("EMBEDDING",),
        streaming=model.streaming and chat,
        context_window=model.context_window,
        input_price_per_1k=model.input_price_per_1k,
        output_price_per_1k=model.output_price_per_1k,
        native_format=model.native_format,
    )


def new_tool_use_id() -> str:
    """Bedrock-style tool-use id (``tooluse_`` + 22 url-safe characters)."""
    return "tooluse_" + secrets.token_urlsafe(16)[:22]


def block_text(block: dict[str, Any]) -> str:
    """The plain text of a text-like content block ('' for others)."""
    if "text" in block:
        return block["text"]
    guard = block.get("guardContent")
    if guard and "text" in guard:
        return guard["text"]["text"]
    return ""


def last_user_text(request: ChatRequest) -> str:
    for message in reversed(request.messages):
        if message.get("role") == "user":
            text = " ".join(t for t in (block_text(b) for b in message.get("content", [])) if t)
            if text:
                return text
    return ""


def has_tool_result_last(request: ChatRequest) -> bool:
    """True when the conversation ends with the user returning tool results."""
    if not request.messages:
        return False
    last = request.messages[-1]
    return last.get("role") == "user" and any("toolResult" in b for b in last.get("content", []))


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
