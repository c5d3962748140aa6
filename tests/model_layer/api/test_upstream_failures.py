"""Upstream failures reach clients as the right Bedrock/OpenAI error, metered as failures, no internals.

The gateway runs its OpenAI-compatible provider against a small OpenAI-shaped server on loopback
that answers every chat with a tool call whose arguments are not JSON (what a weak model behind
vLLM or llama-server can produce), and against a port nothing listens on.
"""

from __future__ import annotations

import json

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import EventStreamError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from tests.model_layer.gateway_harness import build_gateway
from tests.model_layer.live import serve_app

BROKEN = "openai.broken-tools-v1:0"
DEAD = "openai.dead-v1:0"
DEAD_URL = "http://127.0.0.1:9/v1"
TOOLS = {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]}
HELLO = [{"role": "user", "content": [{"text": "find a tent"}]}]


async def chat_completions(request: Request) -> StreamingResponse | JSONResponse:
    if not json.loads(await request.body()).get("stream"):  # as OpenAI: a plain body unless asked
        call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": tent'}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return JSONResponse(
            {
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 4},
            }
        )
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}}]},
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"q": tent'}}]}}
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}},
    ]

    async def sse():
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    upstream = Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])])
    with serve_app(upstream) as upstream_url:
        config = {
            "providers": [
                {"name": "broken", "type": "openai", "base_url": f"{upstream_url}/v1"},
                {"name": "dead", "type": "openai", "base_url": DEAD_URL, "timeout_s": 5},
            ],
            "models": [{"id": BROKEN, "provider": "broken"}, {"id": DEAD, "provider": "dead"}],
            "retry": {"max_attempts": 1},
        }
        gw = build_gateway(tmp_path_factory.mktemp("gw"), config)
        with serve_app(gw.app) as base_url:
            runtime = boto3.client(
                "bedrock-runtime",
                endpoint_url=base_url,
                region_name="us-east-1",
                aws_access_key_id=gw.keys.access_key_id,
                aws_secret_access_key=gw.keys.secret_access_key,
                config=Config(retries={"total_max_attempts": 1}),
            )
            yield gw, base_url, runtime


def _errors(gw, model_id: str) -> tuple[int, int]:
    rows = [r for r in gw.usage.summarize() if r.model_id == model_id]
    return sum(r.requests for r in rows), sum(r.errors for r in rows)


def test_malformed_tool_json_is_a_model_error_and_metered_as_one(gateway):
    gw, base_url, runtime = gateway
    before = _errors(gw, BROKEN)
    with pytest.raises(runtime.exceptions.ModelErrorException) as info:
        runtime.converse(modelId=BROKEN, messages=HELLO, toolConfig=TOOLS)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert "not a JSON object" in info.value.response["Error"]["Message"]
    stream = runtime.converse_stream(modelId=BROKEN, messages=HELLO, toolConfig=TOOLS)["stream"]
    with pytest.raises(EventStreamError, match="modelStreamErrorException"):
        list(stream)
    r = httpx.post(
        f"{base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {gw.keys.api_key}"},
        json={"model": BROKEN, "messages": [{"role": "user", "content": "find a tent"}]},
        timeout=30,
    )
    assert r.status_code == 502 and r.json()["error"]["code"] == "ModelErrorException"
    requests, errors = _errors(gw, BROKEN)
    assert (requests - before[0], errors - before[1]) == (3, 3)  # not one counted as a success


def test_an_unreachable_upstream_is_retryable_and_its_url_stays_in_the_log(gateway, caplog):
    gw, base_url, runtime = gateway
    with pytest.raises(runtime.exceptions.ServiceUnavailableException) as info:
        runtime.converse(modelId=DEAD, messages=HELLO)
    message = info.value.response["Error"]["Message"]
    assert "127.0.0.1:9" not in message and "ConnectError" not in message
    assert DEAD_URL in caplog.text
    r = httpx.post(
        f"{base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {gw.keys.api_key}"},
        json={"model": DEAD, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 503 and "127.0.0.1" not in r.text
