"""Authentication end to end: real boto3 / httpx clients against the gateway on a socket."""

from __future__ import annotations

import datetime as dt

import boto3
import botocore.auth
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.model_layer.auth.g2_harness import CHAT_MODEL, build_gateway, user


@pytest.fixture
def gateway(tmp_path):
    gw = build_gateway(tmp_path / "gw")
    yield gw
    gw.keystore.close()


def runtime(url: str, akid: str, secret: str, **config):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


def error_of(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def converse(client, model_id: str = CHAT_MODEL):
    return client.converse(modelId=model_id, messages=user("hello gateway"))


def test_sigv4_right_key_wrong_secret_unknown_and_revoked(gateway, live_server):
    keys = gateway.issue("acme")
    with live_server(gateway.app) as url:
        ok = converse(runtime(url, keys.access_key_id, keys.secret_access_key))
        assert "hello gateway" in ok["output"]["message"]["content"][0]["text"]
        # An ARN model id travels as %2F: the signature covers the double-encoded raw path.
        arn = f"arn:aws:bedrock:us-east-1::foundation-model/{CHAT_MODEL}"
        assert converse(runtime(url, keys.access_key_id, keys.secret_access_key), arn)["stopReason"]

        code, status, message = error_of(lambda: converse(runtime(url, keys.access_key_id, "x" * 40)))
        assert (code, status) == ("InvalidSignatureException", 403)
        assert message.startswith("The request signature we calculated does not match")

        code, status, _ = error_of(
            lambda: converse(runtime(url, "AKIAUNKNOWN000000000", keys.secret_access_key))
        )
        assert (code, status) == ("UnrecognizedClientException", 403)

        gateway.keystore.revoke(keys.access_key_id)
        code, status, message = error_of(
            lambda: converse(runtime(url, keys.access_key_id, keys.secret_access_key))
        )
        assert (code, status, message) == (
            "UnrecognizedClientException",
            403,
            "The security token included in the request is invalid.",
        )
    assert gateway.sample("strata_auth_failures_total", code="UnrecognizedClientException") == 2
    assert gateway.sample("strata_auth_failures_total", code="InvalidSignatureException") == 1


@pytest.mark.parametrize(("offset_min", "expected"), [(-10, "Signature expired"), (10, "not yet current")])
def test_sigv4_skewed_client_clock_is_rejected(gateway, live_server, monkeypatch, offset_min, expected):
    keys = gateway.issue("acme")
    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=offset_min)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    with live_server(gateway.app) as url:
        client = runtime(url, keys.access_key_id, keys.secret_access_key)
        code, status, message = error_of(lambda: converse(client))
    assert (code, status) == ("InvalidSignatureException", 403)
    assert expected in message and "5 min." in message


def test_sigv4_within_the_allowed_skew_is_accepted(tmp_path, live_server, monkeypatch):
    gateway = build_gateway(tmp_path / "gw", max_clock_skew_s=900)  # AWS' own 15 minutes
    keys = gateway.issue("acme")
    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    with live_server(gateway.app) as url:
        assert converse(runtime(url, keys.access_key_id, keys.secret_access_key))["stopReason"]
    gateway.keystore.close()


def test_unsigned_request_is_access_denied(gateway, live_server):
    with live_server(gateway.app) as url:
        client = runtime(url, "unused", "unused", signature_version=UNSIGNED)
        code, status, message = error_of(lambda: converse(client))
    assert (code, status) == ("AccessDeniedException", 403)
    assert message.startswith("Missing Authentication Token")


def test_endpoint_url_with_a_path_prefix_verifies(gateway, live_server):
    keys = gateway.issue("acme")
    parent = Starlette(routes=[Mount("/bedrock", app=gateway.app)])
    with live_server(parent) as url:
        client = runtime(url + "/bedrock", keys.access_key_id, keys.secret_access_key)
        assert converse(client)["stopReason"]


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_api_keys_as_bearer_or_x_api_key(gateway, live_server, header):
    keys = gateway.issue("acme")
    value = f"Bearer {keys.api_key}" if header == "authorization" else keys.api_key
    body = {"messages": user("hi")}
    with live_server(gateway.app) as url:
        ok = httpx.post(f"{url}/model/{CHAT_MODEL}/converse", headers={header: value}, json=body)
        assert ok.status_code == 200, ok.text
        bad = httpx.post(f"{url}/model/{CHAT_MODEL}/converse", headers={header: value + "x"}, json=body)
        gateway.keystore.revoke(keys.access_key_id)
        revoked = httpx.post(f"{url}/model/{CHAT_MODEL}/converse", headers={header: value}, json=body)
    for response in (bad, revoked):
        assert response.status_code == 403
        assert response.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    rows = gateway.usage.summarize()
    assert [(r.tenant_id, r.requests) for r in rows] == [("acme", 1)]
