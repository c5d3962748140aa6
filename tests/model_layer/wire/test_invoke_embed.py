"""InvokeModel embedding bodies (Titan, Cohere) and the usage headers / invocation metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from model_layer.errors import ValidationException
from model_layer.types import EmbeddingResult, Usage
from model_layer.wire.invoke import FAMILIES, invocation_metrics, parse_native_body, usage_headers


def parse(family: str, body: Any) -> dict[str, Any]:
    return parse_native_body(json.dumps(body).encode(), FAMILIES[family])


# --- embeddings -------------------------------------------------------------------------------


def test_titan_embed():
    body = parse("titan-embed", {"inputText": "hello", "dimensions": 3, "normalize": True})
    assert FAMILIES["titan-embed"].texts(body) == ["hello"]
    result = EmbeddingResult([[0.1, 0.2, 0.3]], 1)
    assert FAMILIES["titan-embed"].to_response(body, result) == {
        "embedding": [0.1, 0.2, 0.3],
        "inputTextTokenCount": 1,
    }
    with pytest.raises(ValidationException, match="returns 3-dimensional embeddings, not 1024"):
        FAMILIES["titan-embed"].to_response({**body, "dimensions": 1024}, result)
    with pytest.raises(ValidationException, match="float only"):
        FAMILIES["titan-embed"].texts({"inputText": "x", "embeddingTypes": ["binary"]})


def test_cohere_embed():
    body = parse("cohere-embed", {"texts": ["a", "b"], "input_type": "search_document"})
    assert FAMILIES["cohere-embed"].texts(body) == ["a", "b"]
    result = EmbeddingResult([[1.0], [0.0]], 2)
    out = FAMILIES["cohere-embed"].to_response(body, result)
    assert (out["embeddings"], out["response_type"], out["texts"]) == (
        [[1.0], [0.0]],
        "embeddings_floats",
        ["a", "b"],
    )
    by_type = FAMILIES["cohere-embed"].to_response({**body, "embedding_types": ["float"]}, result)
    assert (by_type["embeddings"], by_type["response_type"]) == (
        {"float": [[1.0], [0.0]]},
        "embeddings_by_type",
    )
    with pytest.raises(ValidationException, match="float only"):
        FAMILIES["cohere-embed"].texts({**body, "embedding_types": ["int8"]})


# --- usage reporting --------------------------------------------------------------------------


def test_usage_headers_and_invocation_metrics():
    usage = Usage(3, 4, cache_read_input_tokens=5)
    assert usage_headers(usage, 12) == {
        "X-Amzn-Bedrock-Input-Token-Count": "3",
        "X-Amzn-Bedrock-Output-Token-Count": "4",
        "X-Amzn-Bedrock-Cache-Read-Input-Token-Count": "5",
        "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": "0",
        "X-Amzn-Bedrock-Invocation-Latency": "12",
    }
    assert invocation_metrics(usage, 12, 3) == {
        "inputTokenCount": 3,
        "outputTokenCount": 4,
        "invocationLatency": 12,
        "firstByteLatency": 3,
        "cacheReadInputTokenCount": 5,
        "cacheWriteInputTokenCount": 0,
    }
    assert "cacheReadInputTokenCount" not in invocation_metrics(Usage(1, 1), 1, 1)
