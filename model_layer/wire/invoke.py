"""InvokeModel / InvokeModelWithResponseStream: model-native body formats, one *family* per format.

Which family a model speaks is data: ``ModelInfo.native_format`` names it (aliases accepted; an
embedding model left at the default ``converse`` speaks ``titan-embed``, as langchain assumes for
unknown providers). The families:

=================  ============================================================================
``converse``       Amazon Nova ``messages-v1``: ``{"messages", "system"?, "inferenceConfig"?
                   {max_new_tokens, temperature, top_p, top_k, stopSequences}, "toolConfig"?}``
                   → ``{"output": {"message"}, "stopReason", "usage"}``; stream chunks are
                   Converse events keyed by name (``{"contentBlockDelta": {...}}``).
``anthropic``      ``{"anthropic_version", "max_tokens", "messages", "system"?, "temperature"?,
                   "top_p"?, "top_k"?, "stop_sequences"?, "tools"?, "tool_choice"?}`` →
                   ``{"id", "type": "message", "role", "model", "content": [{"type": "text"|
                   "tool_use"}], "stop_reason", "stop_sequence", "usage"}``; stream chunks
                   ``message_start``, ``content_block_start``/``_delta``/``_stop``,
                   ``message_delta`` (stop_reason, output_tokens), ``message_stop``.
``titan-text``     ``{"inputText", "textGenerationConfig"? {maxTokenCount, temperature, topP,
                   stopSequences}}`` → ``{"inputTextTokenCount", "results": [{"tokenCount",
                   "outputText", "completionReason"}]}``; stream chunks ``{"outputText", "index",
                   "totalOutputTextTokenCount", "completionReason", "inputTextTokenCount"}``.
``llama``          ``{"prompt", "max_gen_len"?, "temperature"?, "top_p"?}`` → ``{"generation",
                   "prompt_token_count", "generation_token_count", "stop_reason"}``; the same keys
                   per stream chunk. Llama 3 chat-template prompts are split back into turns.
``openai``         OpenAI chat completions (Bedrock's ``openai.gpt-oss-*``): ``{"messages",
                   "max_completion_tokens"?, "temperature"?, "tools"?, …}`` → ``chat.completion``;
                   stream chunks ``chat.completion.chunk``, the last one with
                   ``finish_reason`` and ``usage``.
``titan-embed``    ``{"inputText", "dimensions"?, "normalize"?}`` → ``{"embedding",
                   "inputTextTokenCount"}``.
``cohere-embed``   ``{"texts", "input_type", "truncate"?, "embedding_types"?}`` →
                   ``{"embeddings", "id", "response_type", "texts"}``.
=================  ============================================================================

InvokeModel reports usage in response headers (``X-Amzn-Bedrock-Input-Token-Count``, …); a
response stream sends ``chunk{bytes}`` events whose last chunk carries
``amazon-bedrock-invocationMetrics``. Bodies are checked against each family's JSON Schema and
refused with Bedrock's ``Malformed input request: …`` wording.
"""

from __future__ import annotations

from typing import Any, cast

from model_layer.errors import ValidationException
from model_layer.types import ModelInfo
from model_layer.wire.invoke_anthropic import AnthropicMessages
from model_layer.wire.invoke_chat import MetaLlama, NovaMessages, TitanText
from model_layer.wire.invoke_embed import CohereEmbed, TitanEmbed
from model_layer.wire.invoke_openai import OpenAIChat
from model_layer.wire.json_body import MalformedJSON, parse_json
from model_layer.wire.native import (
    ChatFamily,
    EmbeddingFamily,
    check_native_body,
    invocation_metrics,
    usage_headers,
)

__all__ = [
    "FAMILIES",
    "ChatFamily",
    "EmbeddingFamily",
    "chat_family_for",
    "embedding_family_for",
    "family_for",
    "invocation_metrics",
    "native_body_schema",
    "parse_native_body",
    "usage_headers",
]

FAMILIES: dict[str, ChatFamily | EmbeddingFamily] = {
    family.name: family
    for family in (
        NovaMessages(),
        AnthropicMessages(),
        TitanText(),
        MetaLlama(),
        OpenAIChat(),
        TitanEmbed(),
        CohereEmbed(),
    )
}
_ALIASES = {
    "nova": "converse",
    "messages-v1": "converse",
    "anthropic-messages": "anthropic",
    "claude": "anthropic",
    "titan": "titan-text",
    "amazon-titan-text": "titan-text",
    "meta": "llama",
    "meta-llama": "llama",
    "titan-embedding": "titan-embed",
    "titan-embeddings": "titan-embed",
    "amazon-titan-embed": "titan-embed",
    "cohere": "cohere-embed",
}

_JSON_TYPES = ("application/json", "application/octet-stream", "*/*")


def family_for(model: ModelInfo) -> ChatFamily | EmbeddingFamily:
    """The body family ``model`` speaks on InvokeModel."""
    name = model.native_format.lower().replace("_", "-")
    name = _ALIASES.get(name, name)
    if model.kind == "embedding" and name == "converse":
        name = "titan-embed"
    family = FAMILIES.get(name)
    if family is None or family.kind != model.kind:
        raise ValidationException(
            f"Model {model.model_id} does not support InvokeModel (native format '{model.native_format}')"
        )
    return family


def chat_family_for(model: ModelInfo) -> ChatFamily:
    """:func:`family_for` for a chat model (callers check ``model.kind`` first)."""
    return cast(ChatFamily, family_for(model))


def embedding_family_for(model: ModelInfo) -> EmbeddingFamily:
    """:func:`family_for` for an embedding model (callers check ``model.kind`` first)."""
    return cast(EmbeddingFamily, family_for(model))


def check_media_types(content_type: str | None, accept: str | None) -> None:
    """Only JSON bodies exist here; refuse other media types instead of misreading them."""
    for header, value in (("Content-Type", content_type), ("Accept", accept)):
        media = (value or "").split(";")[0].strip().lower()
        if media and media not in _JSON_TYPES:
            raise ValidationException(f"{header} '{value}' is not supported; use application/json")


def native_body_schema() -> dict[str, Any]:
    """Any family's request body (JSON Schema ``anyOf``), for the OpenAPI document."""
    return {"anyOf": [family.schema for family in FAMILIES.values()]}


def parse_native_body(raw: bytes, family: ChatFamily | EmbeddingFamily) -> dict[str, Any]:
    """Decode (strictly, :mod:`~model_layer.wire.json_body`) and check a model-native JSON body."""
    try:
        body = parse_json(raw) if raw.strip() else None
    except MalformedJSON as exc:
        raise ValidationException(
            f"Malformed input request: {exc.reason}, please reformat your input and try again."
        ) from None
    if not isinstance(body, dict):
        raise ValidationException(
            "Malformed input request: the body must be a JSON object, "
            "please reformat your input and try again."
        )
    check_native_body(body, family.schema)
    return body
