"""Converse and ConverseStream through real boto3 clients against a live gateway.

The gateway is the production stack (SigV4 with issued keys, router, limiter, meter); the model is
the deterministic fake provider, so every wire value can be asserted exactly.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import EventStreamError

from model_layer.app import assemble, create_app
from model_layer.config import parse_config
from model_layer.providers.fake import FakeProvider
from model_layer.providers.registry import ModelRouter
from model_layer.settings import GatewaySettings
from tests.model_layer.gateway_harness import Gateway, build_gateway

ECHO = "fake.echo-v1:0"
ECHO_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{ECHO}"
HELLO = [{"role": "user", "content": [{"text": "hello there"}]}]
WEATHER_TOOL = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        }
    ]
}


def failing(name: str, code: str, mid_stream: bool) -> dict:
    return {
        "name": name,
        "type": "fake",
        "fail_times": 1_000_000,
        "fail_with": code,
        "fail_mid_stream": mid_stream,
    }


CONFIG = {
    "providers": [
        {"name": "fake", "type": "fake", "embedding_dimensions": 8},
        failing("timeouts", "ModelTimeoutException", True),
        failing("throttled", "ThrottlingException", True),
        failing("down", "ServiceUnavailableException", False),
    ],
    "models": [
        {"id": ECHO, "provider": "fake"},
        {"id": "fake.tiny-v1:0", "provider": "fake", "context_window": 64},
        {"id": "fake.no-stream-v1:0", "provider": "fake", "streaming": False},
        {"id": "fake.timeouts-v1:0", "provider": "timeouts"},
        {"id": "fake.throttled-v1:0", "provider": "throttled"},
        {"id": "fake.down-v1:0", "provider": "down"},
        {"id": "amazon.fake-embed-v1:0", "provider": "fake", "kind": "embedding"},
    ],
    "retry": {"max_attempts": 1},
}


def boto_client(gw: Gateway, base_url: str, service: str = "bedrock-runtime"):
    return boto3.client(
        service,
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id=gw.keys.access_key_id,
        aws_secret_access_key=gw.keys.secret_access_key,
        config=Config(retries={"max_attempts": 1}),  # errors must surface, not be retried
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.model_layer.live import serve_app

    gw = build_gateway(tmp_path_factory.mktemp("gw"), CONFIG)
    with serve_app(gw.app) as base_url:
        yield gw, base_url


@pytest.fixture
def runtime(gateway):
    return boto_client(*gateway)


def signed_post(gw: Gateway, base_url: str, path: str, body: bytes) -> httpx.Response:
    """A raw SigV4-signed POST, for bodies boto3 would never send."""
    request = AWSRequest("POST", base_url + path, data=body, headers={"Content-Type": "application/json"})
    credentials = Credentials(gw.keys.access_key_id, gw.keys.secret_access_key)
    SigV4Auth(credentials, "bedrock", "us-east-1").add_auth(request)
    return httpx.post(base_url + path, content=body, headers=dict(request.headers.items()))


# --- Converse --------------------------------------------------------------------------------------


def test_converse(runtime):
    response = runtime.converse(
        modelId=ECHO, messages=HELLO, system=[{"text": "be brief"}], inferenceConfig={"temperature": 0}
    )
    assert response["output"] == {
        "message": {"role": "assistant", "content": [{"text": "You said: hello there"}]}
    }
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == {"inputTokens": 4, "outputTokens": 4, "totalTokens": 8}
    assert response["metrics"]["latencyMs"] >= 0
    assert len(response["ResponseMetadata"]["RequestId"]) == 36


def test_converse_stops_at_max_tokens(runtime):
    response = runtime.converse(modelId=ECHO, messages=HELLO, inferenceConfig={"maxTokens": 2})
    assert response["output"]["message"]["content"] == [{"text": "You said:"}]
    assert response["stopReason"] == "max_tokens"


def test_converse_tool_use_round_trip(runtime):
    first = runtime.converse(modelId=ECHO, messages=HELLO, toolConfig=WEATHER_TOOL)
    assert first["stopReason"] == "tool_use"
    (block,) = first["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "get_weather"
    assert block["toolUse"]["input"] == {"city": "hello there"}
    assert block["toolUse"]["toolUseId"].startswith("tooluse_")
    result = {"toolResult": {"toolUseId": block["toolUse"]["toolUseId"], "content": [{"json": {"temp": 3}}]}}
    messages = [*HELLO, first["output"]["message"], {"role": "user", "content": [result]}]
    second = runtime.converse(modelId=ECHO, messages=messages, toolConfig=WEATHER_TOOL)
    assert second["stopReason"] == "end_turn"
    assert second["output"]["message"]["content"][0]["text"].startswith("You said:")


def test_converse_structured_output(runtime):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    response = runtime.converse(
        modelId=ECHO,
        messages=HELLO,
        outputConfig={
            "textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": json.dumps(schema)}}}
        },
    )
    assert json.loads(response["output"]["message"]["content"][0]["text"]) == {"answer": "hello there"}


@pytest.mark.parametrize("model_id", [ECHO_ARN, f"us.{ECHO}"])
def test_model_arns_and_profile_ids_route_to_the_model(runtime, model_id: str):
    assert runtime.converse(modelId=model_id, messages=HELLO)["stopReason"] == "end_turn"
    events = list(runtime.converse_stream(modelId=model_id, messages=HELLO)["stream"])
    assert "metadata" in events[-1]


# --- errors before any output ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"inferenceConfig": {"temperature": 5}},
            "1 validation error detected: Value '5' at 'inferenceConfig.temperature' failed to satisfy "
            "constraint: Member must have value less than or equal to 1",
        ),
        (
            {"messages": [{"role": "bogus", "content": [{"text": "x"}]}]},
            "Value 'bogus' at 'messages.1.member.role' failed to satisfy constraint: Member must "
            "satisfy enum",
        ),
        ({"messages": [*HELLO, *HELLO]}, "A conversation must alternate between user and assistant roles."),
        (
            {"modelId": "fake.tiny-v1:0", "inferenceConfig": {"maxTokens": 65}},
            "exceeds the model limit of 64",
        ),
        ({"modelId": "amazon.fake-embed-v1:0"}, "This action doesn't support the model that you provided."),
        ({"modelId": "bad model!"}, "at 'modelId' failed to satisfy constraint"),
    ],
)
def test_validation_errors_are_modeled_exceptions(runtime, kwargs: dict, message: str):
    call = {"modelId": ECHO, "messages": HELLO, **kwargs}
    with pytest.raises(runtime.exceptions.ValidationException) as info:
        runtime.converse(**call)
    assert message in info.value.response["Error"]["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_model_is_resource_not_found(runtime):
    with pytest.raises(runtime.exceptions.ResourceNotFoundException, match=r"nope\.model-v1:0"):
        runtime.converse(modelId="nope.model-v1:0", messages=HELLO)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.converse_stream(modelId="nope.model-v1:0", messages=HELLO)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"messages": "x"}'])
def test_malformed_bodies_are_400_validation_errors(gateway, body: bytes):
    response = signed_post(*gateway, f"/model/{ECHO}/converse", body)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    assert response.json()["message"]


def test_encoded_arn_paths_are_routed(gateway):
    body = json.dumps({"messages": HELLO}).encode()
    response = signed_post(*gateway, f"/model/{quote(ECHO_ARN, safe='')}/converse", body)
    assert response.status_code == 200, response.text
    assert response.json()["output"]["message"]["content"] == [{"text": "You said: hello there"}]


def test_provider_failure_before_the_first_event_is_an_http_error(runtime):
    with pytest.raises(runtime.exceptions.ServiceUnavailableException):
        runtime.converse_stream(modelId="fake.down-v1:0", messages=HELLO)
    with pytest.raises(runtime.exceptions.ValidationException, match="unsupported for streaming"):
        runtime.converse_stream(modelId="fake.no-stream-v1:0", messages=HELLO)


# --- ConverseStream --------------------------------------------------------------------------------


def test_converse_stream_text_events(runtime):
    response = runtime.converse_stream(modelId=ECHO, messages=HELLO)
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds == [
        "messageStart",
        *["contentBlockDelta"] * 4,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[0]["messageStart"] == {"role": "assistant"}
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:5])
    assert text == "You said: hello there"
    assert events[-2]["messageStop"] == {"stopReason": "end_turn"}
    assert events[-1]["metadata"]["usage"] == {"inputTokens": 2, "outputTokens": 4, "totalTokens": 6}
    assert "latencyMs" in events[-1]["metadata"]["metrics"]


def test_converse_stream_tool_use_events(runtime):
    events = list(runtime.converse_stream(modelId=ECHO, messages=HELLO, toolConfig=WEATHER_TOOL)["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[:2] == ["messageStart", "contentBlockStart"]
    start = events[1]["contentBlockStart"]
    assert start["contentBlockIndex"] == 0
    assert start["start"]["toolUse"]["name"] == "get_weather"
    fragments = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e
    ]
    assert all(isinstance(f, str) for f in fragments)
    assert json.loads("".join(fragments)) == {"city": "hello there"}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"
    assert kinds[-1] == "metadata"


@pytest.mark.parametrize(
    ("model_id", "code"),
    [
        # ConverseStream does not model timeouts: botocore sees the modeled stream error
        # (the original status travels in the payload, which botocore does not surface)
        ("fake.timeouts-v1:0", "modelStreamErrorException"),
        ("fake.throttled-v1:0", "throttlingException"),
    ],
)
def test_mid_stream_failures_are_event_stream_errors(runtime, model_id: str, code: str):
    stream = runtime.converse_stream(modelId=model_id, messages=HELLO)["stream"]
    seen = []
    with pytest.raises(EventStreamError) as info:
        for event in stream:
            seen.append(event)
    assert seen == [{"messageStart": {"role": "assistant"}}]
    assert info.value.response["Error"]["Code"] == code
    assert "injected" in info.value.response["Error"]["Message"]


# --- client disconnects -----------------------------------------------------------------------------


class ProbeProvider(FakeProvider):
    """The fake provider, recording when its stream is closed (by the client going away)."""

    closed = threading.Event()

    async def converse_stream(self, request):
        try:
            async for event in super().converse_stream(request):
                yield event
        finally:
            self.closed.set()


def _slow_gateway(tmp_path) -> tuple[Gateway, ProbeProvider]:
    """A gateway whose only model answers 400 words at 50 ms each (20 s in all)."""
    config = parse_config(
        {
            "providers": [{"name": "slow", "type": "fake", "reply": "word " * 400, "chunk_delay_s": 0.05}],
            "models": [{"id": "fake.slow-v1:0", "provider": "slow"}],
        }
    )
    probe = ProbeProvider(config.providers[0], config.models)
    probe.closed = threading.Event()
    settings = GatewaySettings(home=tmp_path / "gw")
    router = ModelRouter(config, providers={"slow": probe})
    parts = assemble(settings, router=router)
    app = create_app(settings, gateway=parts)
    gw = Gateway(app, None, settings, router, parts)  # type: ignore[arg-type]
    gw.keys = gw.issue_keys("acme")
    return gw, probe


def test_a_disconnecting_client_stops_the_provider(tmp_path):
    from tests.model_layer.live import serve_app

    gw, probe = _slow_gateway(tmp_path)
    with serve_app(gw.app) as base_url:
        stream = boto_client(gw, base_url).converse_stream(modelId="fake.slow-v1:0", messages=HELLO)["stream"]
        events = iter(stream)
        assert "messageStart" in next(events)
        assert "contentBlockDelta" in next(events)
        stream.close()
        # 400 words at 50 ms each would take 20 s; the provider must stop long before that
        assert probe.closed.wait(timeout=10)


def test_a_client_leaving_a_non_streaming_call_stops_the_provider(tmp_path):
    from tests.model_layer.live import serve_app

    gw, probe = _slow_gateway(tmp_path)
    with serve_app(gw.app) as base_url:
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=base_url,
            region_name="us-east-1",
            aws_access_key_id=gw.keys.access_key_id,
            aws_secret_access_key=gw.keys.secret_access_key,
            config=Config(retries={"max_attempts": 1}, read_timeout=1),
        )
        with pytest.raises(botocore.exceptions.ReadTimeoutError):
            client.converse(modelId="fake.slow-v1:0", messages=HELLO)
        # botocore gave up after 1 s and closed the connection; the 20 s answer is abandoned
        assert probe.closed.wait(timeout=10)
