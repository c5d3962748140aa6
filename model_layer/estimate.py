"""Cheap token estimates for admission and for calls that end before a provider reports usage.

Exact counts need the model's tokenizer (for a remote model, a round trip), so admission
control reserves against an estimate that errs high: three characters per token (English text
runs about four with the tokenizers in use here), plus a few tokens per message for the chat
template, plus a flat charge per image. The reservation is settled against the real usage when
the call ends, so erring high only delays a refund, never bills it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from model_layer.types import ChatRequest

CHARS_PER_TOKEN = 3.0
TOKENS_PER_MESSAGE = 4
TOKENS_PER_IMAGE = 1600  # Bedrock's Claude models charge up to ~1,600 tokens for a 1092x1092 image


def _block_chars(block: Any) -> tuple[int, int]:
    """(characters, images) of one content block, recursing into tool results."""
    if not isinstance(block, dict):
        return len(str(block)), 0
    if "text" in block and isinstance(block["text"], str):
        return len(block["text"]), 0
    if "image" in block:
        return 0, 1
    if "toolUse" in block:
        return len(json.dumps(block["toolUse"].get("input", {}))) + len(block["toolUse"].get("name", "")), 0
    if "toolResult" in block:
        chars = images = 0
        for inner in block["toolResult"].get("content", []):
            if isinstance(inner, dict) and "json" in inner:
                chars += len(json.dumps(inner["json"]))
            else:
                c, i = _block_chars(inner)
                chars, images = chars + c, images + i
        return chars, images
    if "document" in block:
        source = block["document"].get("source", {})
        return len(source.get("bytes", b"") or source.get("text", "")), 0
    return len(json.dumps(block, default=str)), 0


def estimate_input_tokens(request: ChatRequest) -> int:
    chars = images = 0
    for block in request.system:
        c, i = _block_chars(block)
        chars, images = chars + c, images + i
    for message in request.messages:
        for block in message.get("content", []):
            c, i = _block_chars(block)
            chars, images = chars + c, images + i
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description or "") + len(json.dumps(tool.input_schema))
    if request.json_schema is not None:
        chars += len(json.dumps(request.json_schema))
    messages = len(request.messages) + (1 if request.system else 0)
    return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * messages + TOKENS_PER_IMAGE * images


def estimate_text_tokens(texts: list[str]) -> int:
    return sum(math.ceil(len(t) / CHARS_PER_TOKEN) + 2 for t in texts)
