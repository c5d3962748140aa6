"""Authentication end to end: real boto3 / httpx clients against the gateway on a socket."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import botocore.auth
import httpx
import openai
import pytest
from botocore import UNSIGNED
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.model_layer.auth.g2_harness import CHAT_MODEL, build_gateway, user


@pytest.fixture
def gateway(tmp_path):
    gw = build_gateway(tmp_path / "gw")
    yield gw
    gw.keystore.close()


def runtime(url: str, akid: str, secret: str, *, region: str = "us-east-1", token=None, **config):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name=region,  # botocore signs with the client's region
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=token,
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


# --- credential scope: region, service -------------------------------------------------------


def test_sigv4_for_another_region_is_refused(gateway, live_server):
    keys = gateway.issue("acme")
    with live_server(gateway.app) as url:
        for region in ("xx", "eu-west-1"):
            client = runtime(url, keys.access_key_id, keys.secret_access_key, region=region)
            code, status, message = error_of(lambda c=client: converse(c))
            assert (code, status) == ("InvalidSignatureException", 403)
            assert message == (
                f"Credential should be scoped to a valid region, not '{region}'. "
                "This gateway accepts 'us-east-1'."
            )
    assert gateway.usage.summarize() == []


def test_accepted_regions_setting_admits_exactly_those_regions(tmp_path, live_server):
    gateway = build_gateway(tmp_path / "gw", accepted_regions=["eu-west-1", "us-east-1"])
    keys = gateway.issue("acme")
    with live_server(gateway.app) as url:
        for region in ("eu-west-1", "us-east-1"):
            assert converse(runtime(url, keys.access_key_id, keys.secret_access_key, region=region))
        client = runtime(url, keys.access_key_id, keys.secret_access_key, region="ap-south-1")
        code, _, message = error_of(lambda: converse(client))
    assert code == "InvalidSignatureException"
    assert message.endswith("This gateway accepts 'eu-west-1', 'us-east-1'.")
    gateway.keystore.close()


def signed_post(url: str, path: str, keys, *, service: str, region: str = "us-east-1", body: bytes):
    """A request signed by botocore's own signer for ``service`` (raw: boto3 always says bedrock)."""
    request = AWSRequest(
        method="POST", url=url + path, data=body, headers={"Content-Type": "application/json"}
    )
    botocore.auth.SigV4Auth(
        Credentials(keys.access_key_id, keys.secret_access_key), service, region
    ).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("service", "status"),
    [("bedrock-runtime", 200), ("bedrock-agent-runtime", 200), ("bedrock", 200), ("s3", 403)],
)
def test_credential_scope_service_must_be_a_bedrock_api(gateway, live_server, service, status):
    keys = gateway.issue("acme")
    path = f"/model/{CHAT_MODEL}/converse"
    body = json.dumps({"messages": user("scoped")}).encode()
    with live_server(gateway.app) as url:
        headers = signed_post(url, path, keys, service=service, body=body)
        response = httpx.post(url + path, content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
        assert response.json()["message"] == "Credential should be scoped to correct service: 'bedrock'."


# --- session tokens, repeated and conflicting credentials -------------------------------------


def test_a_session_token_is_refused_as_unknown(gateway, live_server):
    keys = gateway.issue("acme")
    with live_server(gateway.app) as url:
        client = runtime(url, keys.access_key_id, keys.secret_access_key, token="made-up-session-token")
        assert error_of(lambda: converse(client)) == (
            "UnrecognizedClientException",
            403,
            "The security token included in the request is invalid.",
        )
        # Not even alongside an otherwise valid API key.
        headers = {"x-api-key": keys.api_key, "X-Amz-Security-Token": "made-up"}
        response = httpx.post(
            f"{url}/model/{CHAT_MODEL}/converse", headers=headers, json={"messages": user("x")}
        )
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    assert gateway.usage.summarize() == []
    assert gateway.sample("strata_auth_failures_total", code="UnrecognizedClientException") == 2


def _converse_raw(url: str, headers: list[tuple[str, str]], prefix: str = "") -> httpx.Response:
    body = {"messages": user("who pays?")}
    # A list of tuples: httpx sends repeated names as separate header lines, as a hostile client can.
    return httpx.post(f"{url}{prefix}/model/{CHAT_MODEL}/converse", headers=headers, json=body)


def test_repeated_or_conflicting_credentials_are_refused_and_bill_nobody(gateway, live_server):
    acme, other = gateway.issue("acme"), gateway.issue("other")
    cases = {
        "two Authorization": [
            ("authorization", f"Bearer {acme.api_key}"),
            ("authorization", f"Bearer {other.api_key}"),
        ],
        "same key twice": [
            ("authorization", f"Bearer {acme.api_key}"),
            ("authorization", f"Bearer {acme.api_key}"),
        ],
        "two x-api-key": [("x-api-key", acme.api_key), ("x-api-key", other.api_key)],
        "Authorization vs x-api-key": [
            ("authorization", f"Bearer {acme.api_key}"),
            ("x-api-key", other.api_key),
        ],
    }
    with live_server(gateway.app) as url:
        answers = {name: _converse_raw(url, headers) for name, headers in cases.items()}
        same = _converse_raw(url, [("authorization", f"Bearer {acme.api_key}"), ("x-api-key", acme.api_key)])
    for name, response in answers.items():
        assert response.status_code == 403, name
        assert response.headers["x-amzn-ErrorType"] == "IncompleteSignatureException", name
        assert acme.api_key not in response.text and other.api_key not in response.text
    assert same.status_code == 200, same.text  # one credential, named twice the same way
    assert [(r.tenant_id, r.requests) for r in gateway.usage.summarize()] == [("acme", 1)]


def test_sigv4_with_an_x_api_key_of_another_key_set_is_refused(gateway, live_server):
    acme, other = gateway.issue("acme"), gateway.issue("other")
    path = f"/model/{CHAT_MODEL}/converse"
    body = json.dumps({"messages": user("who pays?")}).encode()
    with live_server(gateway.app) as url:
        signed = signed_post(url, path, acme, service="bedrock", body=body)
        conflicting = httpx.post(url + path, content=body, headers={**signed, "x-api-key": other.api_key})
        matching = httpx.post(url + path, content=body, headers={**signed, "x-api-key": acme.api_key})
    assert conflicting.status_code == 403
    assert conflicting.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    assert matching.status_code == 200, matching.text
    assert [(r.tenant_id, r.requests) for r in gateway.usage.summarize()] == [("acme", 1)]


# --- OpenAI route: 401 in OpenAI's shape -------------------------------------------------------


def test_openai_sdk_gets_authentication_error_for_wrong_or_revoked_key(gateway, live_server):
    keys = gateway.issue("acme")
    with live_server(gateway.app) as url:
        wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-strata-wrong-key", max_retries=0)
        with wrong, pytest.raises(openai.AuthenticationError) as bad:
            wrong.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}])
        gateway.keystore.revoke(keys.access_key_id)
        revoked_client = openai.OpenAI(base_url=f"{url}/v1", api_key=keys.api_key, max_retries=0)
        with revoked_client, pytest.raises(openai.AuthenticationError) as revoked:
            revoked_client.models.list()
        missing = httpx.get(f"{url}/v1/models")
        repeated = httpx.get(
            f"{url}/v1/models", headers=[("authorization", "Bearer a"), ("authorization", "Bearer b")]
        )
    for info in (bad, revoked):
        assert info.value.status_code == 401
        assert info.value.body == {
            "message": "The API key included in the request is invalid or revoked.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    assert "sk-strata-wrong-key" not in str(bad.value) and keys.api_key not in str(revoked.value)
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert missing.json()["error"]["code"] is None
    assert repeated.status_code == 401 and repeated.json()["error"]["code"] == "invalid_api_key"
