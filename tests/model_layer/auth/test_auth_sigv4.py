"""SigV4 verification as pure functions: requests signed by botocore verify; anything else fails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from model_layer.auth.sigv4 import (
    check_region,
    check_request_time,
    expected_signature,
    parse_authorization,
    signatures_match,
)
from model_layer.errors import InvalidSignatureException
from model_layer.settings import GatewaySettings

AKID, SECRET = "AKIAEXAMPLE000000001", "s" * 40


def signed(
    url: str, body: bytes = b"{}", *, service: str = "bedrock", extra: dict | None = None
) -> AWSRequest:
    req = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/json", **(extra or {})}
    )
    SigV4Auth(Credentials(AKID, SECRET), service, "eu-west-1").add_auth(req)
    return req


def verify(
    req: AWSRequest, *, raw_path: str, query: str = "", secret: str = SECRET, body: bytes | None = None
):
    auth = parse_authorization(req.headers["Authorization"])
    headers = [(k, v) for k, v in req.headers.items()] + [("host", "gw.local:8000")]
    expected = expected_signature(
        auth=auth,
        secret_access_key=secret,
        method="POST",
        raw_path=raw_path,
        query_string=query,
        headers=headers,
        body=req.body if body is None else body,
        amz_date=req.headers["X-Amz-Date"],
    )
    return signatures_match(expected, auth.signature)


@pytest.mark.parametrize(
    ("url", "raw_path", "query"),
    [
        ("http://gw.local:8000/model/fake.echo-v1%3A0/converse", "/model/fake.echo-v1%3A0/converse", ""),
        # an ARN model id travels with %2F; the prefix of endpoint_url is part of the path
        (
            "http://gw.local:8000/rt/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fa.b/converse",
            "/rt/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fa.b/converse",
            "",
        ),
        (
            "http://gw.local:8000/guardrails?maxResults=5&guardrailIdentifier=g1",
            "/guardrails",
            "maxResults=5&guardrailIdentifier=g1",
        ),
    ],
)
def test_botocore_signed_requests_verify(url, raw_path, query):
    req = signed(url)
    assert verify(req, raw_path=raw_path, query=query)


@pytest.mark.parametrize("service", ["bedrock-runtime", "bedrock-agent", "bedrock-agent-runtime"])
def test_every_bedrock_api_name_is_a_valid_scope_and_signs_as_itself(service):
    req = signed("http://gw.local:8000/model/a.b/converse", service=service)
    assert parse_authorization(req.headers["Authorization"]).service == service
    assert verify(req, raw_path="/model/a.b/converse")


def test_tampering_with_body_path_or_secret_fails():
    req = signed("http://gw.local:8000/model/a.b/converse", b'{"x": 1}')
    assert not verify(req, raw_path="/model/a.b/converse", body=b'{"x": 2}')
    assert not verify(req, raw_path="/model/a.c/converse")
    assert not verify(req, raw_path="/model/a.b/converse", secret="t" * 40)


def test_extra_signed_headers_from_other_sdks_are_honoured():
    # botocore leaves user-agent unsigned; a client that signs it must still verify.
    req = signed("http://gw.local:8000/model/a.b/converse", extra={"X-Custom": "a  b"})
    assert "x-custom" in parse_authorization(req.headers["Authorization"]).signed_headers
    assert verify(req, raw_path="/model/a.b/converse")


def test_a_signed_header_missing_from_the_request_is_rejected():
    req = signed("http://gw.local:8000/model/a.b/converse", extra={"X-Custom": "1"})
    auth = parse_authorization(req.headers["Authorization"])
    received = [(k, v) for k, v in req.headers.items() if k != "X-Custom"] + [("host", "gw.local:8000")]
    with pytest.raises(InvalidSignatureException, match="'x-custom' is missing"):
        expected_signature(
            auth=auth,
            secret_access_key=SECRET,
            method="POST",
            raw_path="/model/a.b/converse",
            query_string="",
            headers=received,
            body=b"{}",
            amz_date=req.headers["X-Amz-Date"],
        )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request", "Unsupported signing algorithm"),
        (
            "AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/bedrock/aws4_request, Signature=ab",
            "'SignedHeaders'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/bedrock, SignedHeaders=host, Signature=ab",
            "of the form",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=ab",
            "scoped to correct service: 'bedrock'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/bedrock/aws4_request, "
            "SignedHeaders=x-amz-date, Signature=ab",
            "'Host' must be a 'SignedHeader'",
        ),
    ],
)
def test_malformed_authorization_headers(header, message):
    with pytest.raises(InvalidSignatureException, match=message) as info:
        parse_authorization(header)
    assert "Signature=" not in info.value.message  # the header is not echoed back


def test_credential_scope_region_must_be_accepted():
    auth = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKIAX/20240101/xx/bedrock/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00"
    )
    check_region(auth, ("xx",))
    with pytest.raises(InvalidSignatureException) as info:
        check_region(auth, ("us-east-1", "eu-west-1"))
    assert info.value.message == (
        "Credential should be scoped to a valid region, not 'xx'. "
        "This gateway accepts 'eu-west-1', 'us-east-1'."
    )


@pytest.mark.parametrize(
    ("env", "regions"),
    [
        ({}, ("us-east-1",)),
        ({"STRATA_REGION": "eu-central-1"}, ("eu-central-1",)),
        ({"STRATA_ACCEPTED_REGIONS": "us-east-1, eu-west-1"}, ("us-east-1", "eu-west-1")),
        ({"STRATA_ACCEPTED_REGIONS": '["ap-south-1"]'}, ("ap-south-1",)),
    ],
)
def test_signing_regions_default_to_the_configured_region(monkeypatch, env, regions):
    for name in ("STRATA_REGION", "STRATA_ACCEPTED_REGIONS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert GatewaySettings().signing_regions() == regions


def test_clock_skew_and_date_checks():
    auth = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKIAX/20240101/us-east-1/bedrock/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00"
    )
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    check_request_time("20240101T120459Z", auth, now, 300)  # within 5 minutes
    expired = (
        r"Signature expired: 20240101T115459Z is now earlier than 20240101T115500Z "
        r"\(20240101T120000Z - 5 min.\)"
    )
    with pytest.raises(InvalidSignatureException, match=expired):
        check_request_time("20240101T115459Z", auth, now, 300)
    with pytest.raises(InvalidSignatureException, match="Signature not yet current"):
        check_request_time("20240101T120501Z", auth, now, 300)
    with pytest.raises(InvalidSignatureException, match="requires existence of either a 'X-Amz-Date'"):
        check_request_time(None, auth, now, 300)
    with pytest.raises(InvalidSignatureException, match="Invalid X-Amz-Date"):
        check_request_time("2024-01-01", auth, now, 300)
    with pytest.raises(InvalidSignatureException, match="does not match YYYYMMDD"):
        check_request_time("20240102T000000Z", auth, datetime(2024, 1, 2, tzinfo=UTC), 300)
