"""Bad input on every model route is a clean 400 in the route family's error shape, never a 5xx.

A live gateway (uvicorn on loopback, the production app over the fake provider) and real
clients: boto3 for the AWS routes (it sends a Python lone surrogate as the JSON escape
``\\ud800``, so a real client can produce one), raw bytes over httpx where no SDK can (invalid
UTF-8, ``NaN``: the openai SDK refuses to encode them). Each refusal names the problem and carries
no internals; the gateway serves the next good request as before.
"""

from __future__ import annotations

import base64
import json

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.model_layer.gateway_harness import CHAT_MODEL, EMBED_MODEL, build_gateway
from tests.model_layer.live import serve_app

INTERNALS = ("Traceback", "UnicodeEncodeError", "UnicodeDecodeError", "TypeError", "codec", "RecursionError")
HELLO = [{"role": "user", "content": [{"text": "hello"}]}]
TOOL = {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gw = build_gateway(tmp_path_factory.mktemp("gw"), requests_per_minute=100_000, tokens_per_minute=10**9)
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
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def http(gateway):
    gw, base_url = gateway
    headers = {"Authorization": f"Bearer {gw.keys.api_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        yield client


def _no_internals(message: str) -> None:
    assert not any(word in message for word in INTERNALS), message


# --- a lone surrogate in every string position, through boto3 -----------------------------------


def _with_result(text: str) -> list[dict]:
    use = {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {}}}
    result = {"toolResult": {"toolUseId": "t1", "content": [{"text": text}]}}
    return [*HELLO, {"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]


BAD = "hi \ud800"
POSITIONS = {
    "message-text": {"messages": [{"role": "user", "content": [{"text": BAD}]}]},
    "system": {"messages": HELLO, "system": [{"text": BAD}]},
    "tool-description": {
        "messages": HELLO,
        "toolConfig": {"tools": [{"toolSpec": {**TOOL["toolSpec"], "description": BAD}}]},
    },
    "tool-schema-key": {
        "messages": HELLO,
        "toolConfig": {
            "tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"properties": {BAD: {}}}}}}]
        },
    },
    "tool-result": {"messages": _with_result(BAD), "toolConfig": {"tools": [TOOL]}},
    "stop-sequence": {"messages": HELLO, "inferenceConfig": {"stopSequences": [BAD]}},
    "additional-fields": {"messages": HELLO, "additionalModelRequestFields": {"top_k": BAD}},
}


@pytest.mark.parametrize("operation", ["converse", "converse_stream"])
@pytest.mark.parametrize("position", list(POSITIONS))
def test_lone_surrogate_anywhere_is_a_validation_exception(runtime, operation, position):
    with pytest.raises(runtime.exceptions.ValidationException) as info:
        getattr(runtime, operation)(modelId=CHAT_MODEL, **POSITIONS[position])
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "lone UTF-16 surrogate" in error["Error"]["Message"]
    _no_internals(error["Error"]["Message"])


def test_lone_surrogate_in_invoke_model_and_count_tokens(runtime):
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": BAD}]}]})
    for call in (runtime.invoke_model, runtime.invoke_model_with_response_stream):
        with pytest.raises(runtime.exceptions.ValidationException, match="lone UTF-16 surrogate"):
            call(modelId=CHAT_MODEL, body=body)
    with pytest.raises(runtime.exceptions.ValidationException, match="lone UTF-16 surrogate"):
        runtime.invoke_model(modelId=EMBED_MODEL, body=json.dumps({"inputText": BAD}))
    with pytest.raises(runtime.exceptions.ValidationException, match="lone UTF-16 surrogate"):
        runtime.count_tokens(
            modelId=CHAT_MODEL, input={"converse": {"messages": HELLO, "system": [{"text": BAD}]}}
        )
    with pytest.raises(runtime.exceptions.ValidationException, match="lone UTF-16 surrogate"):
        runtime.count_tokens(modelId=CHAT_MODEL, input={"invokeModel": {"body": body.encode()}})


# --- every malformed-body kind on every route, as raw bytes ----------------------------------------

KINDS = {
    "lone-surrogate": (b'"hi \\ud800"', "lone UTF-16 surrogate"),
    "invalid-utf8": (b'"hi \xff\xfe"', "not valid UTF-8"),
    "nan": (b"NaN", "NaN is not a valid JSON value"),
    "infinity": (b"Infinity", "Infinity is not a valid JSON value"),
    "overflow": (b"1e400", "out of range"),
    "5000-digits": (b"9" * 5000, "more than 100 digits"),
    "10000-deep": (b"[" * 10_000 + b"]" * 10_000, "nested deeper than 100 levels"),
}


def _bodies(value: bytes) -> dict[str, tuple[str, bytes]]:
    """route name -> (path, body) with ``value`` where a string or number belongs."""
    converse = b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "system": [{"text": %s}]}'
    chat = b'{"model": "%s", "messages": [{"role": "user", "content": "hi"}], "temperature": %%s%%s}'
    chat = chat % CHAT_MODEL.encode()
    counted = base64.b64encode(converse % value).decode()
    return {
        "converse": (f"/model/{CHAT_MODEL}/converse", converse % value),
        "converse-stream": (f"/model/{CHAT_MODEL}/converse-stream", converse % value),
        "invoke": (f"/model/{CHAT_MODEL}/invoke", converse % value),
        "invoke-stream": (f"/model/{CHAT_MODEL}/invoke-with-response-stream", converse % value),
        "invoke-embedding": (f"/model/{EMBED_MODEL}/invoke", b'{"inputText": %s}' % value),
        "count-tokens": (
            f"/model/{CHAT_MODEL}/count-tokens",
            b'{"input": {"converse": %s}}' % (converse % value),
        ),
        "count-tokens-invoke": (
            f"/model/{CHAT_MODEL}/count-tokens",
            b'{"input": {"invokeModel": {"body": "%s"}}}' % counted.encode(),
        ),
        "chat": ("/v1/chat/completions", chat % (value, b"")),
        "chat-stream": ("/v1/chat/completions", chat % (value, b', "stream": true')),
        "embeddings": ("/v1/embeddings", b'{"model": "%s", "input": %s}' % (EMBED_MODEL.encode(), value)),
    }


@pytest.mark.parametrize("kind", list(KINDS))
def test_malformed_bodies_are_400_in_each_family_shape(http, kind):
    value, reason = KINDS[kind]
    for route, (path, body) in _bodies(value).items():
        r = http.post(path, content=body)
        assert r.status_code == 400, (route, r.status_code, r.text[:300])
        if path.startswith("/v1/"):
            error = r.json()["error"]
            assert error["type"] == "invalid_request_error", route
            message = error["message"]
        else:
            assert r.headers["x-amzn-errortype"] == "ValidationException", route
            message = r.json()["message"]
        assert reason in message, (route, message)
        _no_internals(message)


def test_nan_temperature_is_refused_where_a_number_is_validated(http, runtime):
    bodies = {
        f"/model/{CHAT_MODEL}/converse": b'{"messages": %s, "inferenceConfig": {"temperature": NaN}}'
        % json.dumps(HELLO).encode(),
        "/v1/chat/completions": b'{"model": "%s", "messages": [{"role": "user", "content": "hi"}], '
        b'"temperature": NaN}' % CHAT_MODEL.encode(),
    }
    for path, body in bodies.items():
        assert http.post(path, content=body).status_code == 400
    # botocore itself sends NaN as the JSON string "NaN" (its float serialiser), which is no number
    with pytest.raises(runtime.exceptions.ValidationException, match="temperature"):
        runtime.converse(modelId=CHAT_MODEL, messages=HELLO, inferenceConfig={"temperature": float("nan")})


def test_openai_validation_errors_name_the_parameter(http):
    r = http.post("/v1/chat/completions", json={"model": CHAT_MODEL, "messages": "hi"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == "messages" and error["message"].startswith("Invalid value for 'messages'")
    r = http.post("/v1/chat/completions", json={"model": CHAT_MODEL})
    assert r.json()["error"] | {"message": None} == {
        "message": None,
        "type": "invalid_request_error",
        "param": "messages",
        "code": "ValidationException",
    }
    assert r.json()["error"]["message"] == "Missing required parameter: 'messages'."
    r = http.post("/v1/embeddings", json={"model": EMBED_MODEL, "input": "x", "dimensions": 0})
    assert r.status_code == 400 and r.json()["error"]["param"] == "dimensions"
    r = http.post("/v1/chat/completions", content=b"[1, 2]")
    assert r.status_code == 400 and r.json()["error"]["message"] == "The request body must be a JSON object"


def test_the_gateway_serves_the_next_request_as_before(http, runtime):
    for kind in KINDS:
        for path, body in _bodies(KINDS[kind][0]).values():
            http.post(path, content=body)
    assert runtime.converse(modelId=CHAT_MODEL, messages=HELLO)["output"]["message"]["content"] == [
        {"text": "You said: hello"}
    ]
    r = http.post(
        "/v1/chat/completions", json={"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "You said: hi"
