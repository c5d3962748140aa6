"""The request-body limit: refused from Content-Length or while reading, before auth, in each family's shape.

A live gateway with a small limit (64 KiB) and raw sockets, so the tests control exactly what is
sent and can show the answer arrives *before* the rest of the body (a server that buffered the
whole body first would never answer a body that never ends).
"""

from __future__ import annotations

import json
import socket

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.model_layer.gateway_harness import CHAT_MODEL, build_gateway
from tests.model_layer.live import serve_app

LIMIT = 64 * 1024
SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/bedrock/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STRATA_MAX_REQUEST_BODY_BYTES", str(LIMIT))
        gw = build_gateway(tmp_path_factory.mktemp("gw"))
    with serve_app(gw.app) as base_url:
        yield gw, base_url


def _send(base_url: str, head: str, body: bytes = b"") -> tuple[socket.socket, bytes]:
    """Send a request head (and the start of a body); return the socket and the answer's bytes."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(head.encode() + b"\r\n" + body)
    return sock, _read_response(sock)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return head + b"\r\n\r\n" + rest


def _status_and_json(response: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body)


def _head(path: str, *headers: str) -> str:
    return "\r\n".join(
        [f"POST {path} HTTP/1.1", "Host: gateway", "Content-Type: application/json", *headers, ""]
    )


def test_a_declared_length_over_the_limit_is_refused_before_the_body_and_before_sigv4(gateway):
    _, base_url = gateway
    head = _head(
        f"/model/{CHAT_MODEL}/converse",
        f"Authorization: {SIGV4}",
        "X-Amz-Date: 20260101T000000Z",
        "Content-Length: 100000000",
    )
    sock, response = _send(base_url, head, b'{"messages": [')  # 100 MB announced, 14 bytes sent
    sock.close()
    status, headers, body = _status_and_json(response)
    # not InvalidSignatureException: the limit applies before the signature (which hashes the body)
    assert (status, headers["x-amzn-errortype"]) == (413, "ValidationException")
    assert f"({LIMIT} bytes)" in body["message"]
    assert headers["connection"] == "close" and headers["x-amzn-requestid"]


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(gateway):
    gw, base_url = gateway
    head = _head(
        "/v1/chat/completions", f"Authorization: Bearer {gw.keys.api_key}", "Transfer-Encoding: chunked"
    )
    chunk = b"x" * 8192
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(LIMIT // len(chunk) + 1))
    # the terminating 0-length chunk is never sent: only a server that refuses mid-body can answer
    sock, response = _send(base_url, head, body)
    sock.close()
    status, _, payload = _status_and_json(response)
    assert status == 413
    assert (
        payload["error"]["type"] == "invalid_request_error" and "larger than" in payload["error"]["message"]
    )


def test_boto3_gets_a_validation_exception_for_a_body_over_the_limit(gateway):
    gw, base_url = gateway
    runtime = boto3.client(
        "bedrock-runtime",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id=gw.keys.access_key_id,
        aws_secret_access_key=gw.keys.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )
    messages = [{"role": "user", "content": [{"text": "x" * (LIMIT + 1)}]}]
    with pytest.raises(runtime.exceptions.ValidationException) as info:
        runtime.converse(modelId=CHAT_MODEL, messages=messages)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    # just under the limit is served, over SigV4 as well
    text = "y " * ((LIMIT - 200) // 2)
    answer = runtime.converse(modelId=CHAT_MODEL, messages=[{"role": "user", "content": [{"text": text}]}])
    assert answer["stopReason"] == "end_turn"


def test_bodies_under_the_limit_pass_on_every_auth_path(gateway):
    gw, base_url = gateway
    body = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "z" * (LIMIT - 200)}]}
    for headers in ({"Authorization": f"Bearer {gw.keys.api_key}"}, {"x-api-key": gw.keys.api_key}):
        r = httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=headers, timeout=30)
        assert r.status_code == 200, r.text[:200]
    r = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={**body, "pad": "z" * LIMIT},
        timeout=30,
        headers={"Authorization": f"Bearer {gw.keys.api_key}"},
    )
    assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"
