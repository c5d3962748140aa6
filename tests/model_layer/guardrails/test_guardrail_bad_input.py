"""Malformed guardrail use at run time: every mistake is a 4xx in the API's own format, naming the field.

boto3 checks little on the client side, and with ``parameter_validation=False`` nothing, so these
send what a buggy or hostile client could: an unknown source, qualifier or output scope, a block
with both text and image, a bad trace value or identifier, a guardrailConfig that is not an object
on the OpenAI route. Nothing
here may be a 5xx or leak internals, and a rejected call must not reach the model.
"""

from __future__ import annotations

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.model_layer.gateway_harness import CHAT_MODEL, build_gateway
from tests.model_layer.guardrails.test_control_plane import BASIC, client
from tests.model_layer.live import serve_app


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    gw = build_gateway(tmp_path_factory.mktemp("bad"))
    with serve_app(gw.app) as url:
        gid = client(gw, url).create_guardrail(**BASIC)["guardrailId"]
        raw = boto3.client(
            "bedrock-runtime",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=gw.keys.access_key_id,
            aws_secret_access_key=gw.keys.secret_access_key,
            config=Config(parameter_validation=False, retries={"max_attempts": 0}),
        )
        yield gw, url, raw, gid


def _error(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": "SIDEWAYS"}, "source"),
        ({"content": [{"text": {"text": "hi", "qualifiers": ["everything"]}}]}, "qualifiers"),
        (
            {"content": [{"text": {"text": "hi"}, "image": {"format": "png", "source": {"bytes": b"x"}}}]},
            "content",
        ),
        ({"outputScope": "EVERYTHING"}, "outputScope"),
        ({"guardrailVersion": "DRAFT2"}, "guardrailVersion"),
    ],
)
def test_apply_guardrail_rejects_malformed_requests(live, change, field):
    _, _, raw, gid = live
    request = {
        "guardrailIdentifier": gid,
        "guardrailVersion": "DRAFT",
        "source": "INPUT",
        "content": [{"text": {"text": "hello"}}],
        **change,
    }
    status, code, message = _error(lambda: raw.apply_guardrail(**request))
    assert (status, code) == (400, "ValidationException")
    assert field in message and "Traceback" not in message


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"trace": "verbose"}, "trace"),
        ({"guardrailVersion": None}, "guardrailVersion"),
        ({"guardrailIdentifier": "not an id!"}, "guardrailIdentifier"),
    ],
)
def test_converse_rejects_a_malformed_guardrail_config(live, config, field):
    gw, _, raw, gid = live
    provider = gw.router.providers["fake"]
    calls_before = provider.calls
    guardrail = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", **config}
    guardrail = {k: v for k, v in guardrail.items() if v is not None}
    status, code, message = _error(
        lambda: raw.converse(
            modelId=CHAT_MODEL,
            messages=[{"role": "user", "content": [{"text": "hello"}]}],
            guardrailConfig=guardrail,
        )
    )
    assert (status, code) == (400, "ValidationException") and field in message
    assert provider.calls == calls_before  # rejected before the model


@pytest.mark.parametrize(
    "guardrail_config",
    ["abc", ["x"], {"guardrailIdentifier": 12, "guardrailVersion": "DRAFT"}, {"guardrailVersion": "DRAFT"}],
)
def test_openai_route_rejects_a_malformed_extension_field(live, guardrail_config):
    gw, url, _, _ = live
    response = httpx.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {gw.keys.api_key}"},
        json={
            "model": CHAT_MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "guardrailConfig": guardrail_config,
        },
        timeout=30,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"].startswith("guardrailConfig") and error["type"] == "invalid_request_error"


def test_image_content_is_passed_unchecked_as_with_text_only_filters(live):
    """Filters here are TEXT-modality only (IMAGE is refused when a guardrail is configured, as
    AWS's default modality is TEXT): an image block is context, not an error."""
    _, _, raw, gid = live
    r = raw.apply_guardrail(
        guardrailIdentifier=gid,
        guardrailVersion="DRAFT",
        source="INPUT",
        content=[{"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}, {"text": {"text": "hello"}}],
    )
    assert r["action"] == "NONE"
