"""The ``/v1`` API driven by the real ``openai`` SDK against a gateway on a loopback port."""

from __future__ import annotations

import json
import math

import httpx
import openai
import pytest

from model_layer.providers.fake import hashed_vector
from tests.model_layer.gateway_harness import CHAT_MODEL, EMBED_DIMS, EMBED_MODEL, build_gateway, fake_models

USER = [{"role": "user", "content": "hi there"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.model_layer.live import serve_app

    gw = build_gateway(tmp_path_factory.mktemp("gw"))
    with serve_app(gw.app) as base_url:
        yield gw, base_url


def openai_client(base_url: str, gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=gw.keys.api_key, max_retries=0)


@pytest.fixture
def client(gateway):
    gw, base_url = gateway
    with openai_client(base_url, gw) as c:
        yield c


def test_models_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert ids == [CHAT_MODEL, EMBED_MODEL]
    assert client.models.retrieve(CHAT_MODEL).owned_by == "Strata"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("fake.nope-v1:0")


def test_chat_completion(client):
    r = client.chat.completions.create(model=CHAT_MODEL, messages=USER, temperature=0.2)
    assert r.object == "chat.completion"
    assert r.model == CHAT_MODEL
    assert r.choices[0].message.content == "You said: hi there"
    assert r.choices[0].finish_reason == "stop"
    # The fake counts whitespace words: 2 in, 4 out.
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (2, 4, 6)
    assert r.usage.prompt_tokens_details.cached_tokens == 0


def test_chat_completion_max_tokens_is_length(client):
    r = client.chat.completions.create(model=CHAT_MODEL, messages=USER, max_completion_tokens=2)
    assert r.choices[0].message.content == "You said:"
    assert r.choices[0].finish_reason == "length"


def test_chat_stream_with_usage(client):
    chunks = list(
        client.chat.completions.create(
            model=CHAT_MODEL, messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: hi there"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert len({c.id for c in chunks}) == 1


def test_chat_stream_wire_is_sse_ending_with_done(gateway):
    gw, base_url = gateway
    body = {"model": CHAT_MODEL, "messages": USER, "stream": True}
    headers = {"Authorization": f"Bearer {gw.keys.api_key}"}
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: {") for e in events[:-2])
    assert "usage" not in json.loads(events[-3][len("data: ") :])  # not asked for


def test_tool_call_round_trip(client):
    first = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Oslo"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    history = [
        {"role": "user", "content": "Oslo"},
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "rain, 4°C"},
    ]
    second = client.chat.completions.create(model=CHAT_MODEL, messages=history, tools=[WEATHER_TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.tool_calls is None


def test_tool_call_streamed(client):
    stream = client.chat.completions.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "Oslo"}], tools=[WEATHER_TOOL], stream=True
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": tc.id, "name": tc.function.name, "arguments": ""})
            entry["arguments"] += tc.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert calls[0]["name"] == "get_weather" and calls[0]["id"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Oslo"}


def test_json_schema_response_format(client):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "stars": {"type": "integer"}},
        "required": ["name", "stars"],
    }
    r = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "rate the hotel"}],
        response_format={"type": "json_schema", "json_schema": {"name": "review", "schema": schema}},
    )
    answer = json.loads(r.choices[0].message.content)
    assert set(answer) == {"name", "stars"} and isinstance(answer["stars"], int)


def test_embeddings_float_and_base64(client):
    texts = ["red shoes", "blue socks"]
    floats = client.embeddings.create(model=EMBED_MODEL, input=texts, encoding_format="float")
    default = client.embeddings.create(model=EMBED_MODEL, input=texts)  # the SDK asks for base64
    single = client.embeddings.create(model=EMBED_MODEL, input="red shoes", encoding_format="float")
    expected = [hashed_vector(t, EMBED_DIMS) for t in texts]
    assert [d.embedding for d in floats.data] == expected
    for got, want in zip([d.embedding for d in default.data], expected, strict=True):
        assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(got, want, strict=True))
    assert single.data[0].embedding == expected[0]
    assert floats.usage.prompt_tokens == 4


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": EMBED_MODEL, "messages": USER}, "model"),
        ({"model": CHAT_MODEL, "messages": []}, None),
        ({"model": CHAT_MODEL, "messages": USER, "temperature": 3}, None),
        ({"model": CHAT_MODEL, "messages": USER, "n": 2}, None),
        ({"model": CHAT_MODEL, "messages": [{"role": "tool", "content": "x"}]}, "messages[0]"),
        # past the model's context window, as the Bedrock routes refuse it
        ({"model": CHAT_MODEL, "messages": USER, "max_tokens": 10_000_000}, "max_tokens"),
        ({"model": CHAT_MODEL, "messages": USER, "max_completion_tokens": 10_000_000}, "max_tokens"),
    ],
)
def test_bad_chat_requests_are_400_invalid_request(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(**kwargs)
    error = info.value.body
    assert info.value.status_code == 400
    assert error["type"] == "invalid_request_error" and error["code"] == "ValidationException"
    if param:
        assert error["param"] == param


def test_schema_violations_are_400_not_422(gateway):
    gw, base_url = gateway
    headers = {"Authorization": f"Bearer {gw.keys.api_key}"}
    for body in ({"messages": USER}, {"model": CHAT_MODEL, "messages": "hi"}, {"model": EMBED_MODEL}):
        path = "/v1/embeddings" if body.get("model") == EMBED_MODEL else "/v1/chat/completions"
        r = httpx.post(base_url + path, json=body, headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(base_url + "/v1/chat/completions", content=b"{not json", headers=headers)
    assert r.status_code == 400


def test_embeddings_reject_chat_model_and_empty_input(client):
    with pytest.raises(openai.BadRequestError, match="chat model"):
        client.embeddings.create(model=CHAT_MODEL, input="x")
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=EMBED_MODEL, input=[""], encoding_format="float")


def test_unknown_and_missing_keys_are_rejected(gateway):
    _, base_url = gateway
    bad = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-strata-wrong", max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError) as info:  # OpenAI's 401, not a 403
        bad.models.list()
    assert info.value.body["code"] == "invalid_api_key"
    r = httpx.get(f"{base_url}/v1/models")
    assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error"


def test_rate_limit_is_429_with_retry_after(gateway):
    gw, base_url = gateway
    keys = gw.issue_keys("tiny", requests_per_minute=1)
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=keys.api_key, max_retries=0) as c:
        c.chat.completions.create(model=CHAT_MODEL, messages=USER)
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model=CHAT_MODEL, messages=USER)
    assert info.value.body["code"] == "ThrottlingException"
    assert int(info.value.response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("provider", "stream", "status"),
    [
        ({"fail_times": 1, "fail_with": "ModelTimeoutException"}, False, 504),
        ({"fail_times": 1, "fail_with": "ModelTimeoutException"}, True, 504),  # before the first byte
        ({"fail_times": 1, "fail_with": "ModelNotReadyException"}, True, 503),
    ],
)
def test_provider_errors_before_streaming_are_http_errors(tmp_path, live_server, provider, stream, status):
    gw = build_gateway(tmp_path, fake_models(**provider))
    with (
        live_server(gw.app) as base_url,
        openai_client(base_url, gw) as c,
        pytest.raises(openai.APIStatusError) as info,
    ):
        result = c.chat.completions.create(model=CHAT_MODEL, messages=USER, stream=stream)
        if stream:
            list(result)
    assert info.value.status_code == status


def test_error_mid_stream_is_an_error_event(tmp_path, live_server):
    gw = build_gateway(
        tmp_path, fake_models(fail_times=1, fail_mid_stream=True, fail_with="ModelErrorException")
    )
    with live_server(gw.app) as base_url, openai_client(base_url, gw) as c:
        stream = c.chat.completions.create(model=CHAT_MODEL, messages=USER, stream=True)
        with pytest.raises(openai.APIError, match="injected ModelErrorException"):
            list(stream)
        # the next call succeeds: the failure was injected once
        ok = c.chat.completions.create(model=CHAT_MODEL, messages=USER)
    assert ok.choices[0].message.content == "You said: hi there"


def test_every_v1_answer_carries_its_request_id(gateway):
    """The openai SDK exposes ``x-request-id`` as ``_request_id``: plain answers too, not only streams."""
    gw, base_url = gateway
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=gw.keys.api_key, max_retries=0) as client:
        completion = client.chat.completions.create(
            model=CHAT_MODEL, messages=[{"role": "user", "content": "id please"}]
        )
        embeddings = client.embeddings.create(model=EMBED_MODEL, input=["x"])
        models = client.models.with_raw_response.list()
    assert completion._request_id and embeddings._request_id
    assert models.headers["x-request-id"] == models.headers["x-amzn-requestid"]
