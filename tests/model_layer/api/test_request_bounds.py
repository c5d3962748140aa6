"""Request bounds on every chat route: a request past a bound is the route family's own 400.

Real clients (boto3 for Converse, ConverseStream, InvokeModel and CountTokens; the openai SDK for
``/v1``) against the production app on a loopback port over the fake provider: the bounds are
checked by the service, so no provider (and no engine) sees the request.
"""

from __future__ import annotations

import json
import re

import boto3
import openai
import pytest
from botocore.config import Config

from tests.model_layer.gateway_harness import CHAT_MODEL, build_gateway, fake_models
from tests.model_layer.live import serve_app

CLAUDE = "anthropic.fake-claude-v1:0"
HOSTILE_SCHEMA = {"type": "object", "properties": {"v": {"enum": [f"value-{i:05d}" for i in range(20_000)]}}}
ENUM_ERROR = "Member must have a number of enum and const values less than or equal to 256 (found 20000)"
INTERNALS = ("Traceback", "Error:", "llama", "127.0.0.1", "localhost")


def _turns(n: int) -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": [{"text": "hi"}]} for i in range(n)]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    config = fake_models()
    config["models"].append({"id": CLAUDE, "provider": "fake", "native_format": "anthropic"})
    gw = build_gateway(tmp_path_factory.mktemp("gw"), config)
    with serve_app(gw.app) as base_url:
        yield gw, base_url


@pytest.fixture(scope="module")
def runtime(gateway):
    gw, base_url = gateway
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id=gw.keys.access_key_id,
        aws_secret_access_key=gw.keys.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )


@pytest.fixture(scope="module")
def client(gateway):
    gw, base_url = gateway
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=gw.keys.api_key, max_retries=0, timeout=60) as c:
        yield c


def _refused(runtime, call, **kwargs) -> str:
    with pytest.raises(runtime.exceptions.ValidationException) as refused:
        call(**kwargs)
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = error["Error"]["Message"]
    assert re.match(r"\d+ validation errors? detected: Value at '", message), message
    assert not any(word in message for word in INTERNALS), message
    return message


def test_converse_and_converse_stream_refuse_a_hostile_schema(runtime):
    structure = {"jsonSchema": {"schema": json.dumps(HOSTILE_SCHEMA), "name": "r"}}
    call = {
        "modelId": CHAT_MODEL,
        "messages": _turns(1),
        "outputConfig": {"textFormat": {"type": "json_schema", "structure": structure}},
    }
    for operation in (runtime.converse, runtime.converse_stream):
        message = _refused(runtime, operation, **call)
        assert "'outputConfig.textFormat.structure.jsonSchema.schema'" in message and ENUM_ERROR in message


def test_converse_refuses_too_many_messages_and_tools(runtime):
    message = _refused(runtime, runtime.converse, modelId=CHAT_MODEL, messages=_turns(1001))
    assert (
        "'messages' failed to satisfy constraint: Member must have length less than or equal to 1000"
        in message
    )
    tools = [{"toolSpec": {"name": f"t{i}", "inputSchema": {"json": {"type": "object"}}}} for i in range(129)]
    message = _refused(
        runtime, runtime.converse, modelId=CHAT_MODEL, messages=_turns(1), toolConfig={"tools": tools}
    )
    assert "'toolConfig.tools'" in message and "less than or equal to 128" in message


def test_a_hostile_tool_schema_is_refused(runtime):
    tools = [{"toolSpec": {"name": "pick", "inputSchema": {"json": HOSTILE_SCHEMA}}}]
    message = _refused(
        runtime, runtime.converse, modelId=CHAT_MODEL, messages=_turns(1), toolConfig={"tools": tools}
    )
    assert "'toolConfig.tools.1.member.toolSpec.inputSchema.json'" in message and ENUM_ERROR in message


def test_invoke_model_and_count_tokens_are_bounded_too(runtime):
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": []}
    body["messages"] = [{"role": m["role"], "content": "hi"} for m in _turns(1001)]
    message = _refused(runtime, runtime.invoke_model, modelId=CLAUDE, body=json.dumps(body))
    assert "less than or equal to 1000" in message
    converse = {"messages": _turns(1001)}
    message = _refused(runtime, runtime.count_tokens, modelId=CHAT_MODEL, input={"converse": converse})
    assert "less than or equal to 1000" in message


def test_openai_chat_completions_answer_a_400_in_openai_shape(client):
    response_format = {"type": "json_schema", "json_schema": {"name": "r", "schema": HOSTILE_SCHEMA}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}], response_format=response_format
        )
    error = refused.value.body
    assert refused.value.status_code == 400
    assert error["type"] == "invalid_request_error" and ENUM_ERROR in error["message"]
    assert not any(word in error["message"] for word in INTERNALS)


def test_the_gateway_serves_the_next_request(runtime, client):
    _refused(runtime, runtime.converse, modelId=CHAT_MODEL, messages=_turns(1001))
    answer = runtime.converse(modelId=CHAT_MODEL, messages=_turns(1))
    assert answer["output"]["message"]["content"][0]["text"] == "You said: hi"
    reply = client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "You said: hi"


def test_embeddings_are_bounded_too(tmp_path, live_server, monkeypatch):
    """Too many inputs, or too much text, is a 400 before the embedding engine sees it."""
    import openai

    from tests.model_layer.gateway_harness import EMBED_MODEL, build_gateway

    monkeypatch.setenv("STRATA_MAX_EMBEDDING_INPUTS", "3")
    gw = build_gateway(tmp_path)
    with live_server(gw.app) as base_url:
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=gw.keys.api_key, max_retries=0)
        assert len(client.embeddings.create(model=EMBED_MODEL, input=["a", "b", "c"]).data) == 3
        with pytest.raises(openai.BadRequestError, match="less than or equal to 3"):
            client.embeddings.create(model=EMBED_MODEL, input=["a", "b", "c", "d"])
    assert sum(r.requests for r in gw.usage.summarize()) == 1  # the refused call was not metered
