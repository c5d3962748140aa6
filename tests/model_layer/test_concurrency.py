"""Concurrency through the gateway: streams progress together, a stalled reader stalls no one else.

Real clients over loopback: 16 boto3 ConverseStream clients (each in its own thread, as 16
separate programs would be) against the fake provider with a fixed per-event delay, then against
the real llama.cpp engine with 16 slots; and a raw-socket client that requests a long stream and
never reads it while other clients go on.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.model_layer.gateway_harness import CHAT_MODEL, build_gateway, fake_models
from tests.model_layer.live import serve_app

CLIENTS = 16


def _runtime(base_url: str, keys):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(max_pool_connections=CLIENTS + 4, retries={"max_attempts": 1}, read_timeout=120),
    )


def _stream_times(client, model_id: str, text: str, max_tokens: int) -> tuple[float, float, int]:
    """(time of the first text delta, time the stream ended, number of deltas)."""
    first, deltas = None, 0
    response = client.converse_stream(
        modelId=model_id,
        messages=[{"role": "user", "content": [{"text": text}]}],
        inferenceConfig={"maxTokens": max_tokens, "temperature": 0},
    )
    for event in response["stream"]:
        if "contentBlockDelta" in event:
            deltas += 1
            first = first or time.monotonic()
    return first or float("inf"), time.monotonic(), deltas


def _all_progress_together(base_url, keys, model_id: str, text: str, max_tokens: int):
    client = _runtime(base_url, keys)
    barrier = threading.Barrier(CLIENTS)

    def one(i: int):
        barrier.wait()
        return _stream_times(client, model_id, f"{text} {i}", max_tokens)

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one, range(CLIENTS)))
    firsts = [r[0] for r in results]
    ends = [r[1] for r in results]
    assert all(r[2] > 1 for r in results), results
    # Every client had its first token before any client's stream was over: all 16 were being
    # served at once, not one after another.
    assert max(firsts) < min(ends), (firsts, ends)
    return results


def test_sixteen_streams_progress_together_through_the_gateway(tmp_path):
    # 20 words echoed at 50 ms per event: ≥ 1 s per stream; serialised, 16 would take ≥ 16 s.
    config = fake_models(chunk_delay_s=0.05)
    gateway = build_gateway(tmp_path, config)
    text = " ".join(["word"] * 19)
    with serve_app(gateway.app) as base_url:
        _all_progress_together(base_url, gateway.keys, CHAT_MODEL, text, 64)


BIG_MODEL = "fake.big-v1:0"


def _big_reply_models() -> dict:
    """The usual fake models plus one whose every answer is ~20 MB, far beyond socket buffers."""
    config = fake_models()
    config["providers"].append({"name": "big", "type": "fake", "reply": " ".join(["y" * 2000] * 10_000)})
    config["models"].append({"id": BIG_MODEL, "provider": "big", "context_window": 100_000})
    return config


def _start_unread_stream(base_url: str, api_key: str) -> socket.socket:
    """Ask for a huge SSE stream over a raw socket and never read it (a stalled client)."""
    parts = urlsplit(base_url)
    body = json.dumps(
        {"model": BIG_MODEL, "stream": True, "messages": [{"role": "user", "content": "everything"}]}
    ).encode()
    sock = socket.socket()
    # a small receive window, set before connecting so the kernel cannot auto-tune it upwards
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(request + body)
    return sock


def test_a_stalled_reader_does_not_stall_other_clients(tmp_path):
    gateway = build_gateway(tmp_path, _big_reply_models())
    with serve_app(gateway.app) as base_url:
        # ~20 MB of SSE that nobody reads: the server's writes to this connection block once the
        # socket buffers are full, while other connections must go on.
        stalled = _start_unread_stream(base_url, gateway.keys.api_key)
        try:
            headers = {"Authorization": f"Bearer {gateway.keys.api_key}"}
            with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
                for i in range(10):
                    reply = http.post(
                        "/v1/chat/completions",
                        json={"model": CHAT_MODEL, "messages": [{"role": "user", "content": f"ping {i}"}]},
                    )
                    assert reply.status_code == 200, reply.text
                    assert reply.json()["choices"][0]["message"]["content"] == f"You said: ping {i}"
            # Metering records a call when its stream ends: the stalled stream is still open
            # (blocked on its own socket) while the other ten were served and recorded.
            assert sum(row.requests for row in gateway.usage.summarize()) == 10
            assert stalled.recv(12) == b"HTTP/1.1 200"  # it is a real, successful stream
        finally:
            stalled.close()


@pytest.mark.model
def test_sixteen_streams_share_the_local_engine_batch(tmp_path):
    config = {
        "providers": [{"name": "local", "type": "local", "n_parallel": CLIENTS, "n_ctx": CLIENTS * 512}],
        "models": [{"id": "local.smollm2-135m-instruct-v1:0", "provider": "local"}],
    }
    gateway = build_gateway(tmp_path, config)
    with serve_app(gateway.app) as base_url:
        results = _all_progress_together(
            base_url,
            gateway.keys,
            "local.smollm2-135m-instruct-v1:0",
            "Write a long story about a cat number",
            48,
        )
    assert sum(r[2] for r in results) > CLIENTS * 10
