"""Real inference through the wire: boto3 against the gateway serving the embedded SmolLM2 model
(llama.cpp) and MiniLM embeddings. Answers are not asserted word for word (a 135M model is fluent
but unreliable); shapes, limits, usage, caching and grammar-constrained tool input are.
"""

from __future__ import annotations

import json
import math

import boto3
import jsonschema
import pytest
from botocore.config import Config

from tests.model_layer.gateway_harness import build_gateway

pytestmark = pytest.mark.model

CHAT = "local.smollm2-135m-instruct-v1:0"
LLAMA = "meta.smollm2-135m-instruct-v1:0"
EMBED = "amazon.minilm-l6-v2:0"
_CHAT = {"provider": "local", "upstream": "smollm2-135m-instruct", "context_window": 2048}
CONFIG = {
    "providers": [{"name": "local", "type": "local", "n_ctx": 2048, "n_parallel": 2}],
    "models": [
        {"id": CHAT, **_CHAT},
        {"id": LLAMA, **_CHAT, "native_format": "meta"},
        {
            "id": EMBED,
            "provider": "local",
            "upstream": "all-minilm-l6-v2",
            "kind": "embedding",
            "native_format": "titan-embed",
        },
    ],
}
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    from tests.model_layer.live import serve_app

    gw = build_gateway(tmp_path_factory.mktemp("gw"), CONFIG)
    with serve_app(gw.app) as base_url:
        yield boto3.client(
            "bedrock-runtime",
            endpoint_url=base_url,
            region_name="us-east-1",
            aws_access_key_id=gw.keys.access_key_id,
            aws_secret_access_key=gw.keys.secret_access_key,
            config=Config(retries={"max_attempts": 1}, read_timeout=120),
        )


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def test_converse_generates_within_max_tokens(runtime):
    response = runtime.converse(
        modelId=CHAT,
        messages=ask("What is the capital of France?"),
        inferenceConfig={"maxTokens": 12, "temperature": 0},
    )
    text = response["output"]["message"]["content"][0]["text"]
    assert text.strip()
    usage = response["usage"]
    assert usage["inputTokens"] > 5
    assert 0 < usage["outputTokens"] <= 12
    assert usage["totalTokens"] >= usage["inputTokens"] + usage["outputTokens"]
    assert response["stopReason"] in {"end_turn", "max_tokens"}


def test_converse_stream_event_order(runtime):
    events = list(
        runtime.converse_stream(modelId=CHAT, messages=ask("Say hello."), inferenceConfig={"maxTokens": 8})[
            "stream"
        ]
    )
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart"
    assert kinds[-2:] == ["messageStop", "metadata"]
    assert "contentBlockDelta" in kinds
    assert events[-1]["metadata"]["usage"]["outputTokens"] <= 8


def test_cache_point_reads_the_prefix_cache_on_repeat(runtime):
    system = [
        {"text": "You are a shop assistant. " + "Be accurate and brief. " * 40},
        {"cachePoint": {"type": "default"}},
    ]
    call = {"modelId": CHAT, "system": system, "inferenceConfig": {"maxTokens": 4, "temperature": 0}}
    runtime.converse(messages=ask("Hi"), **call)
    second = runtime.converse(messages=ask("Hello"), **call)
    assert second["usage"].get("cacheReadInputTokens", 0) > 100


def test_tool_use_input_matches_the_schema(runtime):
    tool = {
        "toolSpec": {
            "name": "get_weather",
            "description": "Weather for a city",
            "inputSchema": {"json": WEATHER_SCHEMA},
        }
    }
    response = runtime.converse(
        modelId=CHAT,
        messages=ask("What's the weather in Paris in celsius?"),
        toolConfig={"tools": [tool], "toolChoice": {"any": {}}},
        inferenceConfig={"maxTokens": 128, "temperature": 0},  # greedy: no rambling to the limit
    )
    assert response["stopReason"] == "tool_use"
    (use,) = [b["toolUse"] for b in response["output"]["message"]["content"] if "toolUse" in b]
    assert use["name"] == "get_weather"
    jsonschema.validate(use["input"], WEATHER_SCHEMA)


def test_invoke_llama_body_and_stream(runtime):
    body = json.dumps({"prompt": "Name a color.", "max_gen_len": 8})
    answer = json.loads(runtime.invoke_model(modelId=LLAMA, body=body)["body"].read())
    assert answer["generation"].strip()
    assert 0 < answer["generation_token_count"] <= 8
    assert answer["stop_reason"] in {"stop", "length"}
    chunks = [
        json.loads(e["chunk"]["bytes"])
        for e in runtime.invoke_model_with_response_stream(modelId=LLAMA, body=body)["body"]
    ]
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] <= 8
    assert metrics["inputTokenCount"] > 0


def test_titan_embedding_from_minilm(runtime):
    body = json.loads(
        runtime.invoke_model(modelId=EMBED, body=json.dumps({"inputText": "red running shoes"}))[
            "body"
        ].read()
    )
    vector = body["embedding"]
    assert len(vector) == 384
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-3)
    assert body["inputTextTokenCount"] > 0
