"""Unmodified clients against one gateway: boto3, langchain-aws and the openai SDK, one tenant.

Every client authenticates with keys the gateway issued (SigV4 for the AWS clients, the API key
for openai), talks to a loopback socket, and its calls land in the same tenant's usage records.
"""

from __future__ import annotations

import json

import boto3
import openai
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool

from model_layer.providers.fake import hashed_vector
from model_layer.sdk.langchain import chat_model, embeddings_model
from tests.model_layer.gateway_harness import CHAT_MODEL, EMBED_DIMS, EMBED_MODEL, build_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.model_layer.live import serve_app

    gw = build_gateway(tmp_path_factory.mktemp("gw"))
    with serve_app(gw.app) as base_url:
        yield gw, base_url


def _boto(gw, base_url: str, service: str):
    return boto3.client(
        service,
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id=gw.keys.access_key_id,
        aws_secret_access_key=gw.keys.secret_access_key,
    )


def _creds(gw) -> dict[str, str]:
    return {"access_key": gw.keys.access_key_id, "secret_key": gw.keys.secret_access_key}


def test_boto3_converse_stream_invoke_and_control_plane(gateway):
    gw, base_url = gateway
    runtime = _boto(gw, base_url, "bedrock-runtime")
    messages = [{"role": "user", "content": [{"text": "boto says hi"}]}]
    answer = runtime.converse(modelId=CHAT_MODEL, messages=messages)
    assert answer["output"]["message"]["content"] == [{"text": "You said: boto says hi"}]
    assert answer["usage"]["outputTokens"] == 5
    stream = runtime.converse_stream(modelId=CHAT_MODEL, messages=messages)["stream"]
    events = list(stream)
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "You said: boto says hi"
    assert "metadata" in events[-1]
    body = runtime.invoke_model(modelId=EMBED_MODEL, body=json.dumps({"inputText": "red shoes"}))["body"]
    assert json.loads(body.read())["embedding"] == pytest.approx(hashed_vector("red shoes", EMBED_DIMS))
    control = _boto(gw, base_url, "bedrock")
    ids = {m["modelId"] for m in control.list_foundation_models()["modelSummaries"]}
    assert ids == {CHAT_MODEL, EMBED_MODEL}


def test_langchain_chat_invoke_and_stream(gateway):
    gw, base_url = gateway
    llm = chat_model(base_url, CHAT_MODEL, **_creds(gw))
    reply = llm.invoke("langchain says hi")
    assert reply.content == "You said: langchain says hi"
    assert reply.usage_metadata["output_tokens"] == 5
    chunks = list(llm.stream("streaming please"))
    assert len(chunks) > 3  # really streamed (ConverseStream), not one converse() answer
    assert "".join(c.text for c in chunks) == "You said: streaming please"


@tool
def check_stock(sku: str) -> str:
    """How many units of a product are in stock."""
    return f"{sku}: 12 in stock"


def test_langchain_bind_tools_round_trip(gateway):
    gw, base_url = gateway
    llm = chat_model(base_url, CHAT_MODEL, **_creds(gw)).bind_tools([check_stock], tool_choice="check_stock")
    question = HumanMessage("SKU-42")
    first = llm.invoke([question])
    (call,) = first.tool_calls
    assert call["name"] == "check_stock" and call["args"] == {"sku": "SKU-42"}
    result = ToolMessage(check_stock.invoke(call["args"]), tool_call_id=call["id"])
    final = (
        chat_model(base_url, CHAT_MODEL, **_creds(gw))
        .bind_tools([check_stock])
        .invoke([question, first, result])
    )
    assert final.tool_calls == [] and final.content.startswith("You said:")
    streamed = list(llm.stream([question]))
    merged = streamed[0]
    for chunk in streamed[1:]:
        merged += chunk
    assert merged.tool_calls[0]["args"] == {"sku": "SKU-42"}


def test_langchain_embeddings(gateway):
    gw, base_url = gateway
    embedder = embeddings_model(base_url, EMBED_MODEL, **_creds(gw))
    docs = embedder.embed_documents(["red shoes", "blue socks"])
    query = embedder.embed_query("red shoes")
    assert docs[0] == pytest.approx(hashed_vector("red shoes", EMBED_DIMS))
    assert query == pytest.approx(docs[0]) and len(docs[1]) == EMBED_DIMS


def test_all_clients_meter_into_one_tenant(gateway):
    gw, base_url = gateway
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key=gw.keys.api_key, max_retries=0) as client:
        client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "openai"}])
    _boto(gw, base_url, "bedrock-runtime").converse(
        modelId=CHAT_MODEL, messages=[{"role": "user", "content": [{"text": "boto"}]}]
    )
    chat_model(base_url, CHAT_MODEL, **_creds(gw)).invoke("langchain")
    seen = {(r.tenant_id, r.operation) for r in gw.usage.records() if r.model_id == CHAT_MODEL}
    assert {tenant for tenant, _ in seen} == {"acme"}
    assert {"ChatCompletions", "Converse"} <= {op for _, op in seen}
