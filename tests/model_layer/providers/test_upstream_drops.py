"""The OpenAI-compatible provider when its upstream misbehaves at the socket level: a connection
dropped mid-answer, an upstream that never answers, a body cut short. Each ends in a gateway
error a Bedrock client knows (never an aiohttp exception), and nothing hangs."""

from __future__ import annotations

import asyncio
import json

import pytest

from model_layer.errors import GatewayError, ModelTimeoutException, ServiceUnavailableException
from model_layer.providers.openai_compat import OpenAICompatProvider, OpenAIProviderConfig
from model_layer.types import BlockDelta
from tests.model_layer.providers.provider_helpers import chat

_CHUNK = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "half an ans"}}]}
SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _serve(behaviour):
    """A raw TCP server: reads the request head and body, then does ``behaviour(writer)``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
        await reader.readexactly(length)
        await behaviour(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _drop_mid_stream(writer: asyncio.StreamWriter) -> None:
    writer.write(SSE_HEAD + _chunked(b"data: " + json.dumps(_CHUNK).encode() + b"\n\n"))
    await writer.drain()
    writer.transport.abort()  # no last chunk, no [DONE]: the connection is just gone


async def _never_answer(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def _short_body(writer: asyncio.StreamWriter) -> None:
    writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"choi')
    await writer.drain()
    writer.transport.abort()


async def _call(behaviour, *, stream: bool, timeout_s: float = 30.0) -> tuple[list, BaseException]:
    server, port = await _serve(behaviour)
    config = OpenAIProviderConfig(
        name="o", type="openai", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=timeout_s
    )
    provider = OpenAICompatProvider(config)
    events: list = []
    try:
        async with asyncio.timeout(10):  # nothing may hang
            async for event in provider.converse_stream(chat("gpt-x", "hello", stream=stream)):
                events.append(event)
    except GatewayError as exc:
        return events, exc
    finally:
        await provider.aclose()
        server.close()
    raise AssertionError(f"no error; events: {events}")


def test_a_connection_dropped_mid_stream_is_a_gateway_error_after_what_arrived():
    events, error = asyncio.run(_call(_drop_mid_stream, stream=True))
    assert [e.text for e in events if isinstance(e, BlockDelta)] == ["half an ans"]
    assert isinstance(error, ServiceUnavailableException)


def test_an_upstream_that_never_answers_times_out():
    _, error = asyncio.run(_call(_never_answer, stream=False, timeout_s=0.3))
    assert isinstance(error, ModelTimeoutException)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_body_cut_short_is_a_gateway_error(stream):
    _, error = asyncio.run(_call(_short_body, stream=stream))
    assert isinstance(error, ServiceUnavailableException)
    assert "127.0.0.1" not in error.message
