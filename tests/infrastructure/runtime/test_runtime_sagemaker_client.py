"""The SageMaker runtime wire contract, proven with the real botocore client.

boto3's ``sagemaker-runtime`` client is pointed (``endpoint_url``) at the container's local
SageMaker-runtime routes, so botocore serialises the request, and parses the JSON answer or the
binary event stream of ``PayloadPart`` events, exactly as it would against AWS.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config

from infrastructure.runtime.errors import EndpointUnreachableError, InvalidRequestError
from infrastructure.runtime.sagemaker_client import SageMakerEndpointClient, _json_lines

pytestmark = pytest.mark.model

CHAT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "temperature": 0}


@pytest.fixture
def runtime_client(live_container):
    client = boto3.client("sagemaker-runtime", region_name="us-east-1", endpoint_url=live_container.url)
    yield client
    client.close()


@pytest.fixture
def endpoint(runtime_client):
    return SageMakerEndpointClient("strata-local", client=runtime_client)


def test_invoke_endpoint_with_botocore(runtime_client):
    response = runtime_client.invoke_endpoint(
        EndpointName="strata-local",
        Body=json.dumps(CHAT),
        ContentType="application/json",
        Accept="application/json",
    )
    assert response["ContentType"] == "application/json"
    body = json.loads(response["Body"].read())
    assert body["object"] == "chat.completion"


def test_invoke_endpoint_with_response_stream_with_botocore(runtime_client):
    response = runtime_client.invoke_endpoint_with_response_stream(
        EndpointName="strata-local", Body=json.dumps(CHAT), ContentType="application/json"
    )
    assert response["ContentType"] == "application/jsonlines"
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    events = [json.loads(line) for line in b"".join(parts).splitlines()]
    assert len(events) >= 2 and all(e["object"] == "chat.completion.chunk" for e in events)


def test_container_errors_surface_as_model_error(runtime_client):
    with pytest.raises(runtime_client.exceptions.ModelError) as info:
        runtime_client.invoke_endpoint(
            EndpointName="x", Body=b'{"messages": []}', ContentType="application/json"
        )
    assert info.value.response["OriginalStatusCode"] == 400
    assert "messages" in info.value.response["Error"]["Message"]


def test_client_chat_and_stream_agree(endpoint):
    whole = endpoint.chat(CHAT)["choices"][0]["message"]["content"]
    chunks = list(endpoint.stream_chat(CHAT))
    assert chunks[-1]["usage"]["completion_tokens"] >= 1  # usage requested for cache statistics
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == whole
    assert endpoint.cache_stats()["requests"] == 2


def test_client_generate_embed_and_count(endpoint):
    completion = endpoint.complete({"prompt": "The sea is", "max_tokens": 4})
    assert completion["choices"][0]["text"]
    streamed = list(endpoint.stream_complete({"prompt": "The sea is", "max_tokens": 4}))
    assert streamed[-1]["choices"][0]["finish_reason"] == "length"
    vectors = endpoint.embed(["alpha", "beta"])
    assert [len(v) for v in vectors] == [384, 384]
    assert endpoint.count_tokens("Hello world") == 2


def test_client_errors_are_typed(endpoint):
    with pytest.raises(InvalidRequestError, match="ModelError") as info:
        endpoint.chat({**CHAT, "max_tokens": "lots"})
    assert info.value.status_code == 400


def test_unreachable_endpoint_is_a_one_line_error():
    client = boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(EndpointUnreachableError, match="cannot reach SageMaker runtime"):
        SageMakerEndpointClient("gone", client=client).chat(CHAT)


def test_payload_parts_split_anywhere_are_reassembled():
    data = b'{"a": 1}\n{"b": "\xc3\xa9"}\ndata: {"c": 3}\n\ndata: [DONE]\n\n'
    parts = [data[i : i + 3] for i in range(0, len(data), 3)]  # splits lines and a UTF-8 character
    assert list(_json_lines(iter(parts))) == [{"a": 1}, {"b": "é"}, {"c": 3}]
