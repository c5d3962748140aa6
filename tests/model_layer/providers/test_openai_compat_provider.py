"""The OpenAI-compatible provider against a tiny OpenAI-shaped server on loopback (real httpx, SSE)."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from model_layer.config import ModelConfig
from model_layer.errors import (
    ModelErrorException,
    ModelTimeoutException,
    ResourceNotFoundException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)
from model_layer.providers.openai_compat import OpenAICompatProvider, OpenAIProviderConfig
from model_layer.types import ToolSpec, collect
from tests.model_layer.providers.provider_helpers import chat, drain, run

ERRORS = {"throttled": 429, "broken": 500, "down": 503, "missing": 404, "picky": 400, "slowpoke": 504}


def _sse(chunks):
    async def body():
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


def _completion(chunks):
    """What an OpenAI server answers for ``stream: false``: the chunks as one chat.completion."""
    message: dict = {"role": "assistant", "content": None}
    finish, usage = None, None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice["delta"]
            if delta.get("content"):
                message["content"] = (message["content"] or "") + delta["content"]
            for call in delta.get("tool_calls") or []:
                calls = message.setdefault("tool_calls", [])
                if call.get("id"):
                    calls.append({"id": call["id"], "type": "function", "function": dict(call["function"])})
                else:
                    calls[call["index"]]["function"]["arguments"] += call["function"]["arguments"]
            finish = choice.get("finish_reason") or finish
    body = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    return JSONResponse({**body, "usage": usage})


def _answer(body, chunks):
    return _sse(chunks) if body.get("stream") else _completion(chunks)


async def completions(request: Request):
    body = await request.json()
    request.app.state.bodies.append(
        {**body, "auth": request.headers.get("authorization"), "cookie": request.headers.get("cookie")}
    )
    if body["model"] in ERRORS:
        headers = {"retry-after": "2"} if body["model"] == "throttled" else {}
        return JSONResponse(
            {"error": {"message": f"{body['model']} says no"}}, ERRORS[body["model"]], headers
        )
    if body.get("tools"):
        call = {
            "index": 0,
            "id": "call_9",
            "type": "function",
            "function": {"name": body["tools"][0]["function"]["name"], "arguments": ""},
        }
        return _answer(
            body,
            [
                {"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}}]},
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [{"index": 0, "function": {"arguments": '{"q": "tent"}'}}]
                            },
                        }
                    ]
                },
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
                {"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 5}},
            ],
        )
    text = body["messages"][-1]["content"]
    if text == "one long chunk":  # one SSE line far past aiohttp's own line-length limit (64 KiB)
        text = "x" * 300_000
    if text == "set a cookie":
        response = _answer(body, [{"choices": [{"index": 0, "delta": {"content": "ok"}}]}])
        response.set_cookie("session", "tenant-a-secret")
        return response
    return _answer(
        body,
        [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "echo: "}}]},
            {"choices": [{"index": 0, "delta": {"content": text}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 7,
                    "completion_tokens": 2,
                    "prompt_tokens_details": {"cached_tokens": 3},
                },
            },
        ],
    )


async def embeddings(request: Request):
    body = await request.json()
    data = [
        {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0]}
        for i, t in enumerate(body["input"])
    ]
    return JSONResponse(
        {"object": "list", "data": list(reversed(data)), "usage": {"prompt_tokens": 5, "total_tokens": 5}}
    )


def openai_app():
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
        ]
    )
    app.state.bodies = []
    return app


@pytest.fixture
def loop():
    # One loop per test: an httpx.AsyncClient belongs to the loop it first ran on.
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def server(live_server, monkeypatch, loop):
    monkeypatch.setenv("UPSTREAM_KEY", "sk-test-123")
    app = openai_app()
    with live_server(app) as url:
        config = OpenAIProviderConfig(
            name="o", type="openai", base_url=f"{url}/v1", api_key_env="UPSTREAM_KEY"
        )
        provider = OpenAICompatProvider(
            config,
            [
                ModelConfig(
                    id="o.vision-v1:0", provider="o", upstream="vision", input_modalities=["TEXT", "IMAGE"]
                )
            ],
        )
        yield provider, app.state.bodies, loop.run_until_complete
        loop.run_until_complete(provider.aclose())


def test_text_stream_usage_and_auth(server):
    provider, bodies, run = server
    response = run(collect(provider.converse_stream(chat("gpt-x", "tents?", max_tokens=7, temperature=0.1))))
    assert response.text == "echo: tents?"
    # No cachePoint: the whole prompt is input, as Bedrock reports it; the reuse is for metrics
    assert (response.usage.input_tokens, response.usage.cache_read_input_tokens) == (7, 0)
    assert response.usage.engine_cached_tokens == 3
    sent = bodies[0]
    assert sent["model"] == "gpt-x" and sent["max_tokens"] == 7 and sent["stream"] is True
    assert sent["auth"] == "Bearer sk-test-123"


def test_native_tool_calls(server):
    provider, bodies, run = server
    tool = ToolSpec("lookup", "find", {"type": "object", "properties": {"q": {"type": "string"}}})
    response = run(collect(provider.converse_stream(chat("gpt-x", tools=[tool], tool_choice={"any": {}}))))
    assert response.stop_reason == "tool_use"
    assert response.content == [
        {"toolUse": {"toolUseId": "call_9", "name": "lookup", "input": {"q": "tent"}}}
    ]
    assert bodies[0]["tool_choice"] == "required"


def test_images_only_for_models_configured_with_them(server):
    provider, bodies, run = server
    image = {"image": {"format": "png", "source": {"bytes": "iVBO"}}}
    request = chat("gpt-x")
    request.messages[0]["content"].append(image)
    with pytest.raises(ValidationException, match="does not support images"):
        run(drain(provider.converse_stream(request)))
    request.model_id = "vision"
    run(drain(provider.converse_stream(request)))
    assert bodies[-1]["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("throttled", ThrottlingException),
        ("broken", ModelErrorException),
        ("down", ServiceUnavailableException),
        ("missing", ResourceNotFoundException),
        ("picky", ValidationException),
        ("slowpoke", ModelTimeoutException),
    ],
)
def test_upstream_errors(server, model, error):
    provider, _, run = server
    with pytest.raises(error) as info:
        run(drain(provider.converse_stream(chat(model))))
    # the upstream's words reach the client only when it refused the request itself
    assert (f"{model} says no" in info.value.message) == (error is ValidationException)
    if model == "throttled":
        assert info.value.retry_after_s == 2.0


def test_unreachable_server_is_service_unavailable_without_its_url(caplog):
    config = OpenAIProviderConfig(name="o", type="openai", base_url="http://127.0.0.1:9/v1")
    provider = OpenAICompatProvider(config)
    with pytest.raises(ServiceUnavailableException, match="unreachable") as info:
        run(drain(provider.converse_stream(chat("gpt-x"))))
    run(provider.aclose())
    assert "127.0.0.1" not in info.value.message and "ConnectError" not in info.value.message
    assert "http://127.0.0.1:9/v1" in caplog.text  # the operator still learns where


def test_embeddings_in_input_order(server):
    provider, _, run = server
    result = run(provider.embed("text-embedding-3-small", ["a", "bbb"]))
    assert result.vectors == [[1.0, 1.0], [3.0, 1.0]] and result.input_tokens == 5


def test_a_non_streaming_call_is_one_plain_upstream_request(server):
    """The client waits for the whole answer: no SSE to parse, on either side (issue 7 §6)."""
    provider, bodies, run_ = server
    response = run_(collect(provider.converse_stream(chat("gpt-x", "plain", stream=False))))
    assert bodies[-1]["stream"] is False and "stream_options" not in bodies[-1]
    assert response.text == "echo: plain" and response.stop_reason == "end_turn"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 2)
    tools = [ToolSpec("lookup", "find", {"type": "object"})]
    answer = run_(collect(provider.converse_stream(chat("gpt-x", "tent", tools=tools, stream=False))))
    assert answer.stop_reason == "tool_use"
    assert answer.content[0]["toolUse"]["input"] == {"q": "tent"}


def test_a_cookie_an_upstream_sets_is_never_sent_on_later_calls(server):
    """One upstream client serves every tenant: a Set-Cookie from one call must not leak to the next."""
    provider, bodies, run_ = server
    run_(collect(provider.converse_stream(chat("gpt-x", "set a cookie", stream=False))))
    run_(collect(provider.converse_stream(chat("gpt-x", "another tenant", stream=False))))
    assert [b["cookie"] for b in bodies] == [None, None]


def test_a_streamed_chunk_of_any_length_arrives_whole(server):
    provider, _, run_ = server
    response = run_(collect(provider.converse_stream(chat("gpt-x", "one long chunk"))))
    assert response.text == "echo: " + "x" * 300_000


@pytest.mark.parametrize("bypassed", [False, True], ids=["through the proxy", "NO_PROXY"])
def test_the_environments_proxy_is_used_unless_bypassed(live_server, monkeypatch, loop, bypassed):
    """HTTP_PROXY/NO_PROXY are honoured as httpx honoured them. The "proxy" here is the upstream
    app itself: a call to a host that does not exist works only if it went through the proxy."""
    app = openai_app()
    with live_server(app) as url:
        monkeypatch.setenv("HTTP_PROXY", url)
        monkeypatch.setenv("NO_PROXY", "upstream.invalid" if bypassed else "")
        config = OpenAIProviderConfig(name="o", type="openai", base_url="http://upstream.invalid/v1")
        provider = OpenAICompatProvider(config)
        try:
            if bypassed:
                with pytest.raises(ServiceUnavailableException):
                    loop.run_until_complete(drain(provider.converse_stream(chat("gpt-x", "via proxy"))))
                assert app.state.bodies == []
            else:
                stream = provider.converse_stream(chat("gpt-x", "via proxy"))
                response = loop.run_until_complete(collect(stream))
                assert response.text == "echo: via proxy" and len(app.state.bodies) == 1
        finally:
            loop.run_until_complete(provider.aclose())
