"""Small helpers every provider shares: model infos from config, ids, text of Converse blocks,
and what of an upstream's error may reach the client.

Error text from an upstream reaches the client only when the upstream refused the *request*
(a 4xx validation error: the client needs the reason to fix it), with URLs removed and bounded
(:func:`refusal_text`). Every other failure is described in the gateway's own words; the
upstream's text, URLs and exception details go to the gateway's log (:func:`log_upstream`).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from model_layer.config import ModelConfig
from model_layer.errors import (
    GatewayError,
    InternalServerException,
    ModelErrorException,
    ModelNotReadyException,
    ModelStreamErrorException,
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
        ModelStreamErrorException,
        ValidationException,
        ResourceNotFoundException,
    )
}


log = logging.getLogger("strata.gateway.providers")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_MAX_REFUSAL = 500


def refusal_text(text: object) -> str:
    """An upstream's reason for refusing a request, fit to pass on: URLs removed, bounded."""
    cleaned = _URL.sub("<url>", str(text)).strip()
    return cleaned if len(cleaned) <= _MAX_REFUSAL else cleaned[: _MAX_REFUSAL - 3] + "..."


def log_upstream(
    what: str, detail: object, request_id: str | None = None, exc: BaseException | None = None
) -> None:
    """Log an upstream failure's details (they stay out of the client's message)."""
    log.warning("%s (request %s): %s", what, request_id or "-", str(detail)[:2000], exc_info=exc)


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
