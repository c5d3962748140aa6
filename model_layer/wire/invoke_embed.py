"""InvokeModel embedding body families: Amazon Titan embeddings and Cohere embed.

Titan: ``{"inputText", "dimensions"?, "normalize"?, "embeddingTypes"?}`` → ``{"embedding",
"inputTextTokenCount"}``. Cohere: ``{"texts", "input_type", "truncate"?, "embedding_types"?}`` →
``{"embeddings", "id", "response_type", "texts"}``. Only float embeddings exist here; other types
and a ``dimensions`` other than the model's own are refused with a clear message.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from model_layer.errors import ValidationException
from model_layer.types import EmbeddingResult

_TITAN_EMBED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["inputText"],
    "additionalProperties": False,
    "properties": {
        "inputText": {"type": "string", "minLength": 1, "maxLength": 50000},
        "dimensions": {"type": "integer", "minimum": 1},
        "normalize": {"type": "boolean"},
        "embeddingTypes": {"type": "array", "items": {"enum": ["float", "binary"]}},
    },
}


def _only_float(types: list[str] | None, where: str) -> None:
    unsupported = [t for t in types or [] if t != "float"]
    if unsupported:
        raise ValidationException(
            f"Malformed input request: #/{where}: embedding type(s) {unsupported} are not supported "
            "by this gateway (float only), please reformat your input and try again."
        )


class TitanEmbed:
    name: ClassVar[str] = "titan-embed"
    kind: ClassVar[str] = "embedding"
    schema: ClassVar[dict[str, Any]] = _TITAN_EMBED_SCHEMA

    def texts(self, body: dict[str, Any]) -> list[str]:
        _only_float(body.get("embeddingTypes"), "embeddingTypes")
        return [body["inputText"]]

    def to_response(self, body: dict[str, Any], result: EmbeddingResult) -> dict[str, Any]:
        vector = result.vectors[0]
        wanted = body.get("dimensions")
        if wanted is not None and wanted != len(vector):
            raise ValidationException(
                f"Malformed input request: #/dimensions: this model returns {len(vector)}-dimensional "
                f"embeddings, not {wanted}, please reformat your input and try again."
            )
        out: dict[str, Any] = {"embedding": vector, "inputTextTokenCount": result.input_tokens}
        if body.get("embeddingTypes"):
            out["embeddingsByType"] = {"float": vector}
        return out


_COHERE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["texts", "input_type"],
    "additionalProperties": False,
    "properties": {
        "texts": {"type": "array", "minItems": 1, "maxItems": 96, "items": {"type": "string"}},
        "input_type": {"enum": ["search_document", "search_query", "classification", "clustering"]},
        "truncate": {"enum": ["NONE", "START", "END"]},
        "embedding_types": {
            "type": "array",
            "items": {"enum": ["float", "int8", "uint8", "binary", "ubinary"]},
        },
    },
}


class CohereEmbed:
    name: ClassVar[str] = "cohere-embed"
    kind: ClassVar[str] = "embedding"
    schema: ClassVar[dict[str, Any]] = _COHERE_SCHEMA

    def texts(self, body: dict[str, Any]) -> list[str]:
        _only_float(body.get("embedding_types"), "embedding_types")
        return list(body["texts"])

    def to_response(self, body: dict[str, Any], result: EmbeddingResult) -> dict[str, Any]:
        by_type = bool(body.get("embedding_types"))
        return {
            "id": str(uuid.uuid4()),
            "embeddings": {"float": result.vectors} if by_type else result.vectors,
            "response_type": "embeddings_by_type" if by_type else "embeddings_floats",
            "texts": list(body["texts"]),
        }
