"""The OpenAI-compatible client, against a real OpenAI-compatible server: llama.cpp's own
(llama-server's routes, which xllamacpp serves on loopback for every engine)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from infrastructure.runtime.errors import EndpointUnreachableError, InvalidRequestError
from infrastructure.runtime.openai_client import OpenAICompatibleClient

pytestmark = pytest.mark.model


@pytest.fixture
def client(chat_engine):
    remote = OpenAICompatibleClient(chat_engine.openai_base_url, api_key=chat_engine.api_key, model="smol")
    yield remote
    remote.close()


def ask(text: str, **extra) -> dict:
    return {"messages": [{"role": "user", "content": text}], "temperature": 0, "seed": 1, **extra}


def test_remote_chat_matches_the_local_engine(client, chat_engine):
    request = ask("Name a fruit.", max_tokens=10)
    remote = client.chat(request)
    assert remote["object"] == "chat.completion"
    assert (
        remote["choices"][0]["message"]["content"]
        == chat_engine.chat(request)["choices"][0]["message"]["content"]
    )
    assert client.cache_stats()["requests"] == 1


def test_remote_stream_parses_sse_and_records_usage(client):
    chunks = list(client.stream_chat(ask("Say hi", max_tokens=6)))
    assert chunks[-1]["usage"]["completion_tokens"] == 6
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text
    assert client.cache_stats()["completion_tokens"] == 6


def test_remote_async_calls(client):
    async def run():
        whole = await client.achat(ask("Hi", max_tokens=3))
        parts = [c async for c in client.astream_chat(ask("Hi", max_tokens=3))]
        return whole, parts

    whole, parts = asyncio.run(run())
    assert whole["usage"]["completion_tokens"] == 3 and parts


def test_remote_count_tokens_uses_the_servers_tokenizer(client, chat_engine):
    assert client.count_tokens("Hello world") == 2
    messages = [{"role": "user", "content": "Hello world"}]
    assert client.count_tokens(messages) == chat_engine.count_tokens(messages)


def test_remote_completion(client):
    response = client.complete({"prompt": "One, two,", "max_tokens": 3, "temperature": 0})
    assert response["choices"][0]["text"]


def test_count_tokens_falls_back_to_usage_when_there_is_no_tokenize_route(chat_engine):
    # A server without llama.cpp's tokenizer routes (like Ollama): proxy llama.cpp but 404 them.
    upstream = httpx.Client(
        base_url=chat_engine.server_url, headers={"Authorization": f"Bearer {chat_engine.api_key}"}
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/tokenize", "/v1/chat/completions/input_tokens"):
            return httpx.Response(404, json={"error": {"message": "not found"}})
        reply = upstream.post(
            request.url.path, content=request.content, headers={"content-type": "application/json"}
        )
        return httpx.Response(
            reply.status_code, content=reply.content, headers={"content-type": "application/json"}
        )

    ollama_like = OpenAICompatibleClient("http://ollama.test/v1", transport=httpx.MockTransport(handler))
    messages = [{"role": "user", "content": "Hello world"}]
    assert ollama_like.count_tokens(messages) == chat_engine.count_tokens(messages)
    assert ollama_like.count_tokens("Hello world") == 2
    upstream.close()


def test_wrong_key_is_a_401_error(chat_engine):
    remote = OpenAICompatibleClient(chat_engine.openai_base_url, api_key="wrong")
    with pytest.raises(InvalidRequestError, match="401") as info:
        remote.chat(ask("hi", max_tokens=1))
    assert info.value.status_code == 401
    remote.close()


def test_unreachable_server_is_a_one_line_error():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    remote = OpenAICompatibleClient(f"http://127.0.0.1:{port}/v1", timeout=2)
    with pytest.raises(EndpointUnreachableError, match="cannot reach") as info:
        remote.chat(ask("hi"))
    assert "\n" not in str(info.value) and "STRATA_OPENAI_BASE_URL" in str(info.value)
    with pytest.raises(EndpointUnreachableError):
        list(remote.stream_chat(ask("hi")))


def test_non_http_url_is_rejected():
    with pytest.raises(InvalidRequestError, match="not an HTTP URL"):
        OpenAICompatibleClient("localhost:11434")
