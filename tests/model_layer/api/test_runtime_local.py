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


COUNT = "Count from 1 to 10, separated by commas."


@pytest.mark.parametrize("operation", ["converse", "converse_stream"])
def test_a_matched_stop_sequence_is_reported_as_stop_sequence(runtime, operation):
    # greedy SmolLM2 counts "1, 2, 3, 4, 5, ...": the gateway matches "5" and stops the engine
    call = {"modelId": CHAT, "messages": ask(COUNT), "inferenceConfig": {"maxTokens": 40, "temperature": 0}}
    call["inferenceConfig"]["stopSequences"] = ["5"]
    if operation == "converse":
        answer = runtime.converse(**call)
        stop, text, usage = (
            answer["stopReason"],
            answer["output"]["message"]["content"][0]["text"],
            answer["usage"],
        )
    else:
        events = list(runtime.converse_stream(**call)["stream"])
        stop = events[-2]["messageStop"]["stopReason"]
        text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
        usage = events[-1]["metadata"]["usage"]
    assert stop == "stop_sequence"
    assert "4" in text and "5" not in text
    # the engine was stopped early (no usage chunk): its per-token timings give the counts
    assert usage["inputTokens"] > 10 and 0 < usage["outputTokens"] < 40


def test_end_of_sequence_is_not_a_stop_sequence(runtime):
    answer = runtime.converse(
        modelId=CHAT,
        messages=ask("Say hi."),
        inferenceConfig={"maxTokens": 40, "temperature": 0, "stopSequences": ["zebra-quartz"]},
    )
    assert answer["stopReason"] in {"end_turn", "max_tokens"}


def test_prefix_reuse_without_a_cache_point_is_full_input_and_a_metric(runtime):
    from model_layer.tenancy.metrics import DEFAULT_METRICS

    labels = {"tenant": "acme", "model": CHAT, "operation": "Converse"}

    def reused() -> float:
        return (
            DEFAULT_METRICS.registry.get_sample_value("strata_engine_prefix_cache_tokens_total", labels) or 0
        )

    system = [{"text": "You answer questions about tents. " + "Keep answers short and accurate. " * 30}]
    call = {"modelId": CHAT, "system": system, "messages": ask("Hi"), "inferenceConfig": {"maxTokens": 2}}
    first = runtime.converse(**call)["usage"]
    before = reused()
    second = runtime.converse(**call)["usage"]
    # Bedrock reports cache fields only when a cachePoint asked for caching; inputTokens is the
    # whole prompt both times, so a client that prices inputTokens gets the same bill
    assert "cacheReadInputTokens" not in second and "cacheWriteInputTokens" not in second
    assert second["inputTokens"] == first["inputTokens"] > 100
    # ... while the engine's own reuse of the identical prefix shows in the metrics
    assert reused() - before > 100
