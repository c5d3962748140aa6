"""The Bedrock pass-through provider: pure translations, botocore Stubber for errors, and a real
boto3 ConverseStream against a strata gateway standing in for Bedrock (same wire format)."""

from __future__ import annotations

import base64

import boto3
import pytest
from botocore.stub import Stubber

from model_layer.config import ModelConfig
from model_layer.errors import (
    ModelErrorException,
    ModelNotReadyException,
    ModelTimeoutException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)
from model_layer.providers.bedrock import (
    BedrockProvider,
    BedrockProviderConfig,
    converse_kwargs,
    event_from_bedrock,
)
from model_layer.types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ChatRequest,
    MessageStart,
    MessageStop,
    Metadata,
    ToolSpec,
    ToolUseStart,
    Usage,
    collect,
)
from tests.model_layer.gateway_harness import CHAT_MODEL, EMBED_MODEL, build_gateway
from tests.model_layer.providers.provider_helpers import chat, drain, run

CONFIG = BedrockProviderConfig(name="bedrock", type="bedrock", region="us-east-1")


def test_converse_kwargs_translation():
    image = {"image": {"format": "png", "source": {"bytes": base64.b64encode(b"\x89PNG").decode()}}}
    request = ChatRequest(
        model_id="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": "hi"}, image]}],
        system=[{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
        max_tokens=10,
        temperature=0.5,
        stop_sequences=["END"],
        tools=[ToolSpec("lookup", "find things", {"type": "object"})],
        tool_choice={"any": {}},
        extra={"top_k": 5},
        json_schema={"type": "object"},
    )
    kwargs = converse_kwargs(request)
    assert kwargs["messages"][0]["content"][1]["image"]["source"]["bytes"] == b"\x89PNG"
    assert kwargs["system"] == [{"text": "be brief"}, {"cachePoint": {"type": "default"}}]
    assert kwargs["inferenceConfig"] == {"maxTokens": 10, "temperature": 0.5, "stopSequences": ["END"]}
    assert kwargs["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "lookup",
                    "inputSchema": {"json": {"type": "object"}},
                    "description": "find things",
                }
            }
        ],
        "toolChoice": {"any": {}},
    }
    assert kwargs["additionalModelRequestFields"] == {"top_k": 5}
    assert kwargs["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"] == '{"type": "object"}'


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"messageStart": {"role": "assistant"}}, MessageStart()),
        (
            {
                "contentBlockStart": {
                    "contentBlockIndex": 1,
                    "start": {"toolUse": {"toolUseId": "t", "name": "n"}},
                }
            },
            BlockStart(1, ToolUseStart("t", "n")),
        ),
        ({"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "x"}}}, BlockDelta(0, text="x")),
        (
            {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"a'}}}},
            BlockDelta(1, tool_input='{"a'),
        ),
        (
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}},
            BlockDelta(0, reasoning="hmm"),
        ),
        ({"contentBlockStop": {"contentBlockIndex": 0}}, BlockStop(0)),
        ({"messageStop": {"stopReason": "max_tokens"}}, MessageStop("max_tokens")),
        (
            {
                "metadata": {
                    "usage": {
                        "inputTokens": 3,
                        "outputTokens": 4,
                        "totalTokens": 7,
                        "cacheReadInputTokens": 2,
                    },
                    "metrics": {"latencyMs": 12},
                }
            },
            Metadata(Usage(3, 4, 2, 0), 12),
        ),
        ({"somethingNew": {}}, None),
    ],
)
def test_event_from_bedrock(event, expected):
    assert event_from_bedrock(event) == expected


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ThrottlingException", 429, ThrottlingException),
        ("ValidationException", 400, ValidationException),
        ("ModelTimeoutException", 408, ModelTimeoutException),
        ("ModelNotReadyException", 429, ModelNotReadyException),
        ("ServiceUnavailableException", 503, ServiceUnavailableException),
        ("ModelErrorException", 424, ModelErrorException),
        ("AccessDeniedException", 403, ModelErrorException),
    ],
)
def test_upstream_errors_map_to_gateway_errors(code, status, error):
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    provider = BedrockProvider(CONFIG, client=client)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "converse_stream",
            service_error_code=code,
            service_message="upstream says no",
            http_status_code=status,
        )
        with pytest.raises(error) as info:
            run(drain(provider.converse_stream(chat("anthropic.claude-3-haiku-20240307-v1:0"))))
    # Only a refusal of the request passes the upstream's words on; nothing names the upstream.
    assert ("upstream says no" in info.value.message) == (error is ValidationException)
    assert "anthropic.claude" not in info.value.message


def test_count_tokens_with_stubber():
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    provider = BedrockProvider(CONFIG, client=client)
    with Stubber(client) as stubber:
        stubber.add_response(
            "count_tokens",
            {"inputTokens": 17},
            {
                "modelId": "m.x-v1:0",
                "input": {"converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}},
            },
        )
        assert run(provider.count_tokens(chat("m.x-v1:0", "hi"))) == 17


@pytest.fixture
def bedrock_standin(tmp_path, live_server):
    """A strata gateway (fake model) that speaks bedrock-runtime, reached with issued SigV4 keys."""
    gateway = build_gateway(tmp_path / "upstream")
    with live_server(gateway.app) as url:
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id=gateway.keys.access_key_id,
            aws_secret_access_key=gateway.keys.secret_access_key,
        )
        models = [
            ModelConfig(
                id="b.embed-v1:0",
                provider="bedrock",
                upstream=EMBED_MODEL,
                kind="embedding",
                native_format="titan-embed",
            )
        ]
        provider = BedrockProvider(CONFIG, models, client=client)
        yield provider
        run(provider.aclose())


def test_converse_stream_over_the_real_wire(bedrock_standin):
    events = run(drain(bedrock_standin.converse_stream(chat(CHAT_MODEL, "over the wire", max_tokens=50))))
    assert isinstance(events[0], MessageStart) and isinstance(events[-1], Metadata)

    async def replay():
        for event in events:
            yield event

    response = run(collect(replay()))
    assert response.text == "You said: over the wire"
    assert response.usage.input_tokens == 3


def test_tool_call_over_the_real_wire(bedrock_standin):
    tool = ToolSpec(
        "lookup", "find", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    )
    response = run(collect(bedrock_standin.converse_stream(chat(CHAT_MODEL, "tents", tools=[tool]))))
    assert response.stop_reason == "tool_use"
    assert response.content[0]["toolUse"]["input"] == {"q": "tents"}


def test_titan_embeddings_over_the_real_wire(bedrock_standin):
    result = run(bedrock_standin.embed(EMBED_MODEL, ["a b", "c"]))
    assert len(result.vectors) == 2 and len(result.vectors[0]) == 16
