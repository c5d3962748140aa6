"""The SDK clients: retries and decoding over an in-memory transport, then against a real gateway."""

from __future__ import annotations

import asyncio
import json
import struct
from binascii import crc32

import httpx
import pytest

from model_layer import sdk
from model_layer.providers.fake import hashed_vector
from model_layer.sdk import AsyncStrataClient, RetryPolicy, StrataClient
from strata.errors import ConfigurationError
from tests.model_layer.gateway_harness import CHAT_MODEL, EMBED_DIMS, EMBED_MODEL, build_gateway, fake_models

CONVERSE_OK = {
    "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
    "metrics": {"latencyMs": 3},
}


# --- in-memory transport: the wire behaviour of the client alone -------------------------------


class Recorder:
    """An httpx handler answering from a script of responses, recording the requests it saw."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def throttled(retry_after_ms: str | None = None) -> httpx.Response:
    headers = {"x-amzn-ErrorType": "ThrottlingException"}
    if retry_after_ms:
        headers["x-amz-retry-after"] = retry_after_ms
    return httpx.Response(429, headers=headers, json={"message": "slow down"})


def client_for(handler, **kwargs) -> tuple[StrataClient, list[float]]:
    delays: list[float] = []
    client = StrataClient(
        "http://gw.test", api_key="k", transport=httpx.MockTransport(handler), sleep=delays.append, **kwargs
    )
    return client, delays


def test_retries_honour_x_amz_retry_after():
    handler = Recorder(throttled("1500"), throttled("250"), httpx.Response(200, json=CONVERSE_OK))
    client, delays = client_for(handler)
    answer = client.converse(CHAT_MODEL, "hello")
    assert answer.text == "hi" and answer.latency_ms == 3
    assert delays == [1.5, 0.25]
    assert len(handler.requests) == 3


def test_backoff_grows_and_gives_up_after_max_attempts():
    handler = Recorder(httpx.Response(503, json={"message": "busy"}))
    client, delays = client_for(handler, retry=RetryPolicy(max_attempts=4, base_delay_s=0.1))
    with pytest.raises(sdk.ServiceUnavailableError, match="busy") as info:
        client.converse(CHAT_MODEL, "hello")
    assert info.value.status == 503
    assert len(handler.requests) == 4 and len(delays) == 3
    for delay, cap in zip(delays, (0.1, 0.2, 0.4), strict=True):
        assert cap / 2 <= delay <= cap  # exponential, with jitter in [cap/2, cap]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (
            httpx.Response(400, headers={"x-amzn-ErrorType": "ValidationException"}, json={"message": "m"}),
            sdk.ValidationError,
        ),
        (
            httpx.Response(
                404, headers={"x-amzn-ErrorType": "ResourceNotFoundException"}, json={"message": "m"}
            ),
            sdk.ResourceNotFoundError,
        ),
        (
            httpx.Response(408, headers={"x-amzn-ErrorType": "ModelTimeoutException"}, json={"message": "m"}),
            sdk.ModelTimeoutError,
        ),
        (httpx.ReadTimeout("slow"), sdk.APITimeoutError),
    ],
)
def test_non_retryable_errors_fail_at_once(response, error):
    handler = Recorder(response)
    client, delays = client_for(handler)
    with pytest.raises(error):
        client.converse(CHAT_MODEL, "hello")
    assert len(handler.requests) == 1 and delays == []


def test_connection_failures_are_retried_then_typed():
    handler = Recorder(httpx.ConnectError("refused"))
    client, delays = client_for(handler)
    with pytest.raises(sdk.APIConnectionError, match="cannot reach the gateway"):
        client.list_models()
    assert len(handler.requests) == 3 and len(delays) == 2


def test_sigv4_signs_the_encoded_path_like_boto3():
    handler = Recorder(httpx.Response(200, json=CONVERSE_OK))
    client = StrataClient(
        "http://gw.test/prefix",
        access_key="AKIAEXAMPLE",
        secret_key="secret",
        region="eu-west-1",
        transport=httpx.MockTransport(handler),
    )
    client.converse("arn:aws:bedrock:eu-west-1::foundation-model/x.y-v1:0", "hi")
    request = handler.requests[0]
    assert (
        request.url.raw_path
        == b"/prefix/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A%3Afoundation-model%2Fx.y-v1%3A0/converse"
    )
    auth = request.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/")
    assert "/eu-west-1/bedrock/aws4_request" in auth and "x-amz-date" in auth
    assert request.headers["content-type"] == "application/json"


def test_credentials_are_required(monkeypatch):
    monkeypatch.delenv("STRATA_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="no gateway credentials"):
        StrataClient("http://gw.test")
    with pytest.raises(ConfigurationError, match="both access_key and secret_key"):
        StrataClient("http://gw.test", access_key="AKIA")
    monkeypatch.setenv("STRATA_API_KEY", "sk-env")
    handler = Recorder(httpx.Response(200, json={"modelSummaries": []}))
    StrataClient("http://gw.test", transport=httpx.MockTransport(handler)).list_models()
    assert handler.requests[0].headers["authorization"] == "Bearer sk-env"


def _frame(headers: dict[str, str], payload: bytes) -> bytes:
    """AWS event-stream framing (see shared/reference/bedrock-wire.md §4)."""
    hb = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(hb) + len(payload), len(hb))
    body = prelude + struct.pack(">I", crc32(prelude) & 0xFFFFFFFF) + hb + payload
    return body + struct.pack(">I", crc32(body) & 0xFFFFFFFF)


def _event(name: str, body: dict) -> bytes:
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return _frame(headers, json.dumps(body).encode())


def test_stream_decodes_events_then_raises_typed_stream_error():
    exception = _frame(
        {
            ":exception-type": "modelStreamErrorException",
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        b'{"message": "upstream died"}',
    )
    content = (
        _event("messageStart", {"role": "assistant"})
        + _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
        + _event("someFutureEvent", {"x": 1})  # unknown events are skipped, as botocore does
        + exception
    )
    handler = Recorder(httpx.Response(200, content=content))
    client, _ = client_for(handler)
    events = client.converse_stream(CHAT_MODEL, "hello")
    assert next(events) == sdk.MessageStartEvent("assistant")
    assert next(events) == sdk.ContentBlockDeltaEvent(0, text="Hi")
    with pytest.raises(sdk.ModelStreamError, match="upstream died"):
        next(events)


def test_corrupt_stream_is_a_stream_error():
    frame = bytearray(_event("messageStart", {"role": "assistant"}))
    frame[-1] ^= 0xFF  # break the message CRC
    client, _ = client_for(Recorder(httpx.Response(200, content=bytes(frame))))
    with pytest.raises(sdk.ModelStreamError, match="corrupt event stream"):
        list(client.converse_stream(CHAT_MODEL, "hello"))


# --- against a real gateway -------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.model_layer.live import serve_app

    gw = build_gateway(tmp_path_factory.mktemp("gw"))
    with serve_app(gw.app) as base_url:
        yield gw, base_url


def _auth(gw, kind: str) -> dict[str, str]:
    if kind == "api_key":
        return {"api_key": gw.keys.api_key}
    return {"access_key": gw.keys.access_key_id, "secret_key": gw.keys.secret_access_key}


@pytest.mark.parametrize("auth", ["api_key", "sigv4"])
def test_sync_client_against_gateway(gateway, auth):
    gw, base_url = gateway
    with StrataClient(base_url, **_auth(gw, auth)) as client:
        models = {m.model_id: m for m in client.list_models()}
        answer = client.converse(
            CHAT_MODEL, "hello world", system="be nice", inference_config={"maxTokens": 50}
        )
        events = list(client.converse_stream(CHAT_MODEL, "hello world"))
        tokens = client.count_tokens(CHAT_MODEL, "one two three", system="four")
        vectors = client.embed(EMBED_MODEL, ["red shoes", "blue"])
    assert set(models) == {CHAT_MODEL, EMBED_MODEL} and models[EMBED_MODEL].is_embedding
    assert answer.text == "You said: hello world" and answer.stop_reason == "end_turn"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (4, 4)
    assert answer.request_id
    text = "".join(e.text for e in events if isinstance(e, sdk.ContentBlockDeltaEvent))
    assert text == "You said: hello world"
    assert isinstance(events[0], sdk.MessageStartEvent) and isinstance(events[-1], sdk.MetadataEvent)
    assert events[-2] == sdk.MessageStopEvent("end_turn")
    assert tokens == 4
    assert vectors.vectors[0] == pytest.approx(hashed_vector("red shoes", EMBED_DIMS))
    assert vectors.input_tokens == 3


def test_tool_use_round_trip(gateway):
    gw, base_url = gateway
    tools = {
        "tools": [
            {
                "toolSpec": {
                    "name": "find_product",
                    "description": "Search the catalog",
                    "inputSchema": {"json": {"type": "object", "properties": {"query": {"type": "string"}}}},
                }
            }
        ],
        "toolChoice": {"any": {}},
    }
    with StrataClient(base_url, api_key=gw.keys.api_key) as client:
        messages = [{"role": "user", "content": [{"text": "trail shoes"}]}]
        first = client.converse(CHAT_MODEL, messages, tool_config=tools)
        (use,) = first.tool_uses
        result = {"toolResult": {"toolUseId": use.tool_use_id, "content": [{"json": {"hits": 3}}]}}
        messages += [first.message, {"role": "user", "content": [result]}]
        tools.pop("toolChoice")
        second = client.converse(CHAT_MODEL, messages, tool_config=tools)
    assert first.stop_reason == "tool_use"
    assert use.name == "find_product" and use.input == {"query": "trail shoes"}
    assert second.stop_reason == "end_turn" and not second.tool_uses


def test_typed_errors_from_gateway(gateway):
    gw, base_url = gateway
    no_retry = RetryPolicy(max_attempts=1)
    with StrataClient(base_url, api_key=gw.keys.api_key, retry=no_retry) as client:
        with pytest.raises(sdk.ResourceNotFoundError):
            client.converse("fake.missing-v1:0", "hi")
        with pytest.raises(sdk.ValidationError) as invalid:
            client.converse(CHAT_MODEL, [])
        with pytest.raises(sdk.ValidationError):
            client.converse(CHAT_MODEL, "hi", inference_config={"temperature": 5})
    assert invalid.value.status == 400 and invalid.value.request_id
    with (
        StrataClient(base_url, api_key="sk-strata-unknown") as client,
        pytest.raises(sdk.UnrecognizedClientError),
    ):
        client.list_models()
    wrong = {"access_key": gw.keys.access_key_id, "secret_key": "not-the-secret"}
    with StrataClient(base_url, **wrong) as client, pytest.raises(sdk.InvalidSignatureError):
        client.list_models()
    tiny = gw.issue_keys("tiny-sdk", requests_per_minute=1)
    with StrataClient(base_url, api_key=tiny.api_key, retry=no_retry) as client:
        client.converse(CHAT_MODEL, "first")
        with pytest.raises(sdk.ThrottlingError) as throttled_info:
            client.converse(CHAT_MODEL, "second")
    assert throttled_info.value.status == 429 and throttled_info.value.retry_after_s > 0


def test_provider_failures_are_retried_by_the_sdk(tmp_path, live_server):
    gw = build_gateway(tmp_path, fake_models(fail_times=2, fail_with="ServiceUnavailableException"))
    delays: list[float] = []
    with (
        live_server(gw.app) as base_url,
        StrataClient(base_url, api_key=gw.keys.api_key, sleep=delays.append) as c,
    ):
        answer = c.converse(CHAT_MODEL, "third time lucky")
    assert answer.text == "You said: third time lucky"
    assert len(delays) == 2


def test_mid_stream_failure_raises_while_iterating(tmp_path, live_server):
    gw = build_gateway(
        tmp_path, fake_models(fail_times=1, fail_mid_stream=True, fail_with="ModelErrorException")
    )
    with live_server(gw.app) as base_url, StrataClient(base_url, api_key=gw.keys.api_key) as client:
        events = client.converse_stream(CHAT_MODEL, "hi")
        assert next(events) == sdk.MessageStartEvent()
        with pytest.raises(sdk.StrataAPIError, match="injected ModelErrorException") as info:
            list(events)
    assert info.value.status is None  # inside a 200 stream


def test_async_client(gateway):
    gw, base_url = gateway

    async def scenario():
        async with AsyncStrataClient(base_url, **_auth(gw, "sigv4")) as client:
            answer, models = await asyncio.gather(
                client.converse(CHAT_MODEL, "async hello"), client.list_models()
            )
            events = [e async for e in await client.converse_stream(CHAT_MODEL, "streamed")]
            tokens = await client.count_tokens(CHAT_MODEL, "a b c")
            vectors = await client.embed(EMBED_MODEL, ["x"])
            with pytest.raises(sdk.ResourceNotFoundError):
                await client.converse("fake.missing-v1:0", "hi")
            return answer, models, events, tokens, vectors

    answer, models, events, tokens, vectors = asyncio.run(scenario())
    assert answer.text == "You said: async hello" and len(models) == 2
    assert (
        "".join(e.text for e in events if isinstance(e, sdk.ContentBlockDeltaEvent)) == "You said: streamed"
    )
    assert tokens == 3 and len(vectors.vectors[0]) == EMBED_DIMS


def test_async_client_in_process_over_asgi(tmp_path):
    """``transport=httpx.ASGITransport(app)``: the SDK against a gateway with no socket at all."""
    gw = build_gateway(tmp_path, fake_models(fail_times=1, fail_with="ThrottlingException"))
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    async def scenario():
        transport = httpx.ASGITransport(gw.app)
        async with AsyncStrataClient(
            "http://gw", api_key=gw.keys.api_key, transport=transport, sleep=record
        ) as c:
            return await c.converse(CHAT_MODEL, "in process")

    assert asyncio.run(scenario()).text == "You said: in process"
    assert len(delays) == 1  # the injected throttle was retried once


@pytest.mark.parametrize("auth", ["api_key", "sigv4"])
def test_usage_reports_the_callers_own_usage(tmp_path, live_server, auth):
    from datetime import UTC, datetime, timedelta

    gw = build_gateway(tmp_path)
    other = gw.issue_keys("other")
    with live_server(gw.app) as base_url:
        with StrataClient(base_url, api_key=other.api_key) as client:
            client.converse(CHAT_MODEL, "not yours")
        with StrataClient(base_url, **_auth(gw, auth)) as client:
            client.converse(CHAT_MODEL, "one two")
            client.converse(CHAT_MODEL, "three")
            report = client.usage()
            later = client.usage(since=datetime.now(UTC) + timedelta(hours=1))
    assert report.tenant_id == "acme"
    [model] = report.models
    assert (model.model_id, model.requests, model.errors) == (CHAT_MODEL, 2, 0)
    assert model.input_tokens == 3 and report.spend_today_usd == 0.0 and report.daily_budget_usd is None
    assert later.models == []


def test_expired_keys_are_a_typed_error(tmp_path, live_server):
    from datetime import timedelta

    gw = build_gateway(tmp_path)
    keystore = gw.parts.keystore
    issued = keystore.create_keys("acme")
    rotated = keystore.rotate(issued.access_key_id, grace=timedelta(0))
    with live_server(gw.app) as base_url:
        for auth in (
            {"api_key": issued.api_key},
            {"access_key": issued.access_key_id, "secret_key": issued.secret_access_key},
        ):
            with StrataClient(base_url, **auth) as client, pytest.raises(sdk.ExpiredTokenError):
                client.converse(CHAT_MODEL, "hi")
        with StrataClient(base_url, api_key=rotated.api_key) as client:
            assert client.converse(CHAT_MODEL, "hi").text == "You said: hi"
