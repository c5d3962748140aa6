"""InvokeModel, InvokeModelWithResponseStream and CountTokens through real boto3 clients.

One fake-provider model per body family (``native_format``), so each family's native request and
response shapes are checked on the wire, with usage headers and invocation metrics.
"""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EventStreamError

from model_layer.providers.fake import hashed_vector
from tests.model_layer.gateway_harness import build_gateway

DIMS = 8
CONFIG = {
    "providers": [
        {"name": "fake", "type": "fake", "embedding_dimensions": DIMS},
        {
            "name": "timeouts",
            "type": "fake",
            "fail_times": 1_000_000,
            "fail_with": "ModelTimeoutException",
            "fail_mid_stream": True,
        },
    ],
    "models": [
        {"id": "anthropic.fake-claude-v1:0", "provider": "fake", "native_format": "anthropic"},
        {"id": "amazon.fake-titan-text-v1:0", "provider": "fake", "native_format": "titan-text"},
        {"id": "meta.fake-llama-v1:0", "provider": "fake", "native_format": "meta"},
        {"id": "amazon.fake-nova-v1:0", "provider": "fake"},
        {"id": "openai.fake-gpt-v1:0", "provider": "fake", "native_format": "openai"},
        {"id": "anthropic.fake-timeouts-v1:0", "provider": "timeouts", "native_format": "anthropic"},
        {
            "id": "amazon.fake-embed-v1:0",
            "provider": "fake",
            "kind": "embedding",
            "native_format": "titan-embed",
        },
        {
            "id": "cohere.fake-embed-v1:0",
            "provider": "fake",
            "kind": "embedding",
            "native_format": "cohere-embed",
        },
    ],
    "retry": {"max_attempts": 1},
}
CLAUDE = "anthropic.fake-claude-v1:0"
ANTHROPIC_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hello there"}],
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.model_layer.live import serve_app

    gw = build_gateway(tmp_path_factory.mktemp("gw"), CONFIG)
    with serve_app(gw.app) as base_url:
        yield gw, base_url


@pytest.fixture
def runtime(gateway):
    gw, base_url = gateway
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id=gw.keys.access_key_id,
        aws_secret_access_key=gw.keys.secret_access_key,
        config=Config(retries={"max_attempts": 1}),
    )


def invoke(runtime, model_id: str, body: dict) -> tuple[dict, dict]:
    response = runtime.invoke_model(modelId=model_id, body=json.dumps(body), contentType="application/json")
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


def stream_chunks(runtime, model_id: str, body: dict) -> tuple[list[dict], dict]:
    response = runtime.invoke_model_with_response_stream(modelId=model_id, body=json.dumps(body))
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    return chunks, response


# --- InvokeModel --------------------------------------------------------------------------------


def test_anthropic_messages(runtime):
    body, headers = invoke(runtime, CLAUDE, ANTHROPIC_BODY)
    assert body["type"] == "message"
    assert body["model"] == CLAUDE
    assert body["content"] == [{"type": "text", "text": "You said: hello there"}]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"]["input_tokens"] == 2
    assert body["usage"]["output_tokens"] == 4
    assert headers["content-type"] == "application/json"
    assert headers["x-amzn-bedrock-input-token-count"] == "2"
    assert headers["x-amzn-bedrock-output-token-count"] == "4"
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 0


def test_anthropic_tool_use(runtime):
    tools = [
        {
            "name": "lookup",
            "description": "find",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    body, _ = invoke(runtime, CLAUDE, {**ANTHROPIC_BODY, "tools": tools})
    assert body["stop_reason"] == "tool_use"
    (call,) = body["content"]
    assert (call["type"], call["name"], call["input"]) == ("tool_use", "lookup", {"q": "hello there"})


def test_titan_text(runtime):
    body, headers = invoke(
        runtime,
        "amazon.fake-titan-text-v1:0",
        {"inputText": "hi titan", "textGenerationConfig": {"maxTokenCount": 3}},
    )
    assert body == {
        "inputTextTokenCount": 2,
        "results": [{"tokenCount": 3, "outputText": "You said: hi", "completionReason": "LENGTH"}],
    }
    assert headers["x-amzn-bedrock-output-token-count"] == "3"


def test_meta_llama(runtime):
    prompt = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi llama<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    body, _ = invoke(runtime, "meta.fake-llama-v1:0", {"prompt": prompt, "max_gen_len": 20})
    assert body == {
        "generation": "You said: hi llama",
        "prompt_token_count": 2,
        "generation_token_count": 4,
        "stop_reason": "stop",
    }


def test_nova_messages(runtime):
    request = {
        "messages": [{"role": "user", "content": [{"text": "hi nova"}]}],
        "inferenceConfig": {"max_new_tokens": 10},
    }
    body, _ = invoke(runtime, "amazon.fake-nova-v1:0", request)
    assert body["output"]["message"]["content"] == [{"text": "You said: hi nova"}]
    assert body["stopReason"] == "end_turn"
    assert body["usage"]["totalTokens"] == 6


def test_openai_chat_completions(runtime):
    request = {"messages": [{"role": "user", "content": "hi gpt"}], "max_completion_tokens": 10}
    body, headers = invoke(runtime, "openai.fake-gpt-v1:0", request)
    assert body["object"] == "chat.completion"
    assert body["model"] == "openai.fake-gpt-v1:0"
    assert body["choices"][0]["message"]["content"] == "You said: hi gpt"
    assert body["usage"]["completion_tokens"] == 4
    assert headers["x-amzn-bedrock-output-token-count"] == "4"


def test_titan_embeddings(runtime):
    body, headers = invoke(runtime, "amazon.fake-embed-v1:0", {"inputText": "red shoes"})
    assert body["embedding"] == pytest.approx(hashed_vector("red shoes", DIMS))
    assert body["inputTextTokenCount"] == 2
    assert headers["x-amzn-bedrock-input-token-count"] == "2"


def test_cohere_embeddings(runtime):
    body, _ = invoke(
        runtime, "cohere.fake-embed-v1:0", {"texts": ["a b", "c"], "input_type": "search_document"}
    )
    assert body["response_type"] == "embeddings_floats"
    assert body["texts"] == ["a b", "c"]
    assert body["embeddings"][1] == pytest.approx(hashed_vector("c", DIMS))


@pytest.mark.parametrize(
    ("model_id", "body", "message"),
    [
        (
            CLAUDE,
            {"messages": []},
            "Malformed input request: #: required key [anthropic_version, max_tokens] not found",
        ),
        (CLAUDE, {**ANTHROPIC_BODY, "max_tokens": 100_000}, "exceeds the model limit of 8192"),
        (
            "amazon.fake-embed-v1:0",
            {"inputText": "x", "dimensions": 1024},
            "8-dimensional embeddings, not 1024",
        ),
        ("cohere.fake-embed-v1:0", {"texts": ["a"], "input_type": "poetry"}, "#/input_type"),
    ],
)
def test_invalid_native_bodies(runtime, model_id: str, body: dict, message: str):
    with pytest.raises(runtime.exceptions.ValidationException) as info:
        invoke(runtime, model_id, body)
    assert message in info.value.response["Error"]["Message"]


def test_non_json_media_types_and_bodies(runtime):
    with pytest.raises(runtime.exceptions.ValidationException, match="Content-Type 'text/plain'"):
        runtime.invoke_model(modelId=CLAUDE, body=b"hi", contentType="text/plain")
    with pytest.raises(runtime.exceptions.ValidationException, match="Malformed input request: not valid"):
        runtime.invoke_model(modelId=CLAUDE, body=b"not json", contentType="application/json")
    with pytest.raises(runtime.exceptions.ValidationException, match="enum value set"):
        runtime.invoke_model(modelId=CLAUDE, body=json.dumps(ANTHROPIC_BODY), trace="LOUD")


def test_unknown_model(runtime):
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        invoke(runtime, "anthropic.nope-v1:0", ANTHROPIC_BODY)


# --- InvokeModelWithResponseStream -------------------------------------------------------------------


def test_anthropic_stream(runtime):
    chunks, response = stream_chunks(runtime, CLAUDE, ANTHROPIC_BODY)
    assert response["contentType"] == "application/json"  # from X-Amzn-Bedrock-Content-Type
    assert [c["type"] for c in chunks] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text == "You said: hello there"
    assert chunks[-2]["delta"]["stop_reason"] == "end_turn"
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert (metrics["inputTokenCount"], metrics["outputTokenCount"]) == (2, 4)
    assert metrics["invocationLatency"] >= metrics["firstByteLatency"] >= 0
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])


@pytest.mark.parametrize(
    ("model_id", "body", "text_key"),
    [
        ("amazon.fake-titan-text-v1:0", {"inputText": "hi titan"}, "outputText"),
        ("meta.fake-llama-v1:0", {"prompt": "hi llama"}, "generation"),
        ("openai.fake-gpt-v1:0", {"messages": [{"role": "user", "content": "hi gpt"}]}, "choices"),
    ],
)
def test_text_family_streams(runtime, model_id: str, body: dict, text_key: str):
    chunks, _ = stream_chunks(runtime, model_id, body)
    if text_key == "choices":  # OpenAI chunks nest the text in choices[0].delta.content
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    else:
        text = "".join(c[text_key] for c in chunks)
    assert text.startswith("You said: hi")
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 4


def test_nova_stream_chunks_are_converse_events(runtime):
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    chunks, _ = stream_chunks(runtime, "amazon.fake-nova-v1:0", body)
    assert next(iter(chunks[0])) == "messageStart"
    assert "metadata" in chunks[-1]
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == 1


def test_streaming_an_embedding_model_is_refused(runtime):
    with pytest.raises(runtime.exceptions.ValidationException, match="unsupported for streaming"):
        runtime.invoke_model_with_response_stream(
            modelId="amazon.fake-embed-v1:0", body=json.dumps({"inputText": "x"})
        )


def test_mid_stream_timeout_is_a_model_timeout_event(runtime):
    response = runtime.invoke_model_with_response_stream(
        modelId="anthropic.fake-timeouts-v1:0", body=json.dumps(ANTHROPIC_BODY)
    )
    chunks = []
    with pytest.raises(EventStreamError) as info:
        for event in response["body"]:
            chunks.append(json.loads(event["chunk"]["bytes"]))
    assert [c["type"] for c in chunks] == ["message_start"]
    assert info.value.response["Error"]["Code"] == "modelTimeoutException"


# --- langchain's InvokeModel client parses each family ------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "kwargs"),
    [
        (CLAUDE, {"max_tokens": 20}),
        ("meta.fake-llama-v1:0", {}),
        ("openai.fake-gpt-v1:0", {}),
    ],
)
def test_langchain_chat_bedrock_invoke_and_stream(runtime, model_id: str, kwargs: dict):
    from langchain_aws import ChatBedrock

    llm = ChatBedrock(model_id=model_id, client=runtime, model_kwargs=kwargs)
    answer = llm.invoke("hi there")
    assert answer.content == "You said: hi there"
    assert answer.usage_metadata["output_tokens"] == 4
    chunks = list(llm.stream("hi stream"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.content == "You said: hi stream"
    # usage comes from amazon-bedrock-invocationMetrics on the chunk langchain stops at
    assert merged.usage_metadata["input_tokens"] == 2
    assert merged.usage_metadata["output_tokens"] == 4


# --- CountTokens ------------------------------------------------------------------------------------


def test_count_tokens_from_converse_and_invoke_bodies(runtime):
    converse = {
        "messages": [{"role": "user", "content": [{"text": "one two three"}]}],
        "system": [{"text": "four"}],
    }
    assert runtime.count_tokens(modelId=CLAUDE, input={"converse": converse})["inputTokens"] == 4
    raw = json.dumps({**ANTHROPIC_BODY, "system": "five six"}).encode()
    counted = runtime.count_tokens(modelId=CLAUDE, input={"invokeModel": {"body": raw}})
    assert counted["inputTokens"] == 4


def test_count_tokens_errors(runtime):
    with pytest.raises(runtime.exceptions.ValidationException, match="must start with a user message"):
        runtime.count_tokens(modelId=CLAUDE, input={"converse": {"messages": []}})
    with pytest.raises(runtime.exceptions.ValidationException, match="Malformed input request"):
        runtime.count_tokens(modelId=CLAUDE, input={"invokeModel": {"body": base64.b64decode("e30=")}})
    with pytest.raises(runtime.exceptions.ValidationException, match="doesn't support the model"):
        runtime.count_tokens(modelId="amazon.fake-embed-v1:0", input={"converse": {"messages": []}})
