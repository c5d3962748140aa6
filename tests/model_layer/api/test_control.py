"""The bedrock control plane (models and inference profiles) through a real boto3 ``bedrock`` client."""

from __future__ import annotations

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.model_layer.gateway_harness import build_gateway

CONFIG = {
    "providers": [{"name": "fake", "type": "fake"}],
    "models": [
        {"id": "fake.echo-v1:0", "provider": "fake", "name": "Echo", "provider_name": "Strata"},
        {"id": "amazon.fake-embed-v1:0", "provider": "fake", "kind": "embedding", "provider_name": "Amazon"},
        {"id": "fake.quiet-v1:0", "provider": "fake", "streaming": False, "provider_name": "Strata"},
    ],
}
ARN = "arn:aws:bedrock:eu-west-1::foundation-model/fake.echo-v1:0"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.model_layer.live import serve_app

    gw = build_gateway(tmp_path_factory.mktemp("gw"), CONFIG)
    gw.settings.region = "eu-west-1"  # ARNs carry the gateway's configured region
    with serve_app(gw.app) as base_url:
        yield gw, base_url


@pytest.fixture
def bedrock(gateway):
    gw, base_url = gateway
    return boto3.client(
        "bedrock",
        endpoint_url=base_url,
        region_name="eu-west-1",
        aws_access_key_id=gw.keys.access_key_id,
        aws_secret_access_key=gw.keys.secret_access_key,
        config=Config(retries={"max_attempts": 1}),
    )


def ids(response: dict) -> list[str]:
    return [m["modelId"] for m in response["modelSummaries"]]


def test_list_foundation_models(bedrock):
    summaries = {m["modelId"]: m for m in bedrock.list_foundation_models()["modelSummaries"]}
    assert set(summaries) == {"fake.echo-v1:0", "amazon.fake-embed-v1:0", "fake.quiet-v1:0"}
    assert summaries["fake.echo-v1:0"] == {
        "modelArn": ARN,
        "modelId": "fake.echo-v1:0",
        "modelName": "Echo",
        "providerName": "Strata",
        "inputModalities": ["TEXT"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": True,
        "customizationsSupported": [],
        "inferenceTypesSupported": ["ON_DEMAND"],
        "modelLifecycle": {"status": "ACTIVE"},
    }
    assert summaries["amazon.fake-embed-v1:0"]["outputModalities"] == ["EMBEDDING"]
    assert summaries["fake.quiet-v1:0"]["responseStreamingSupported"] is False


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"byProvider": "strata"}, ["fake.echo-v1:0", "fake.quiet-v1:0"]),
        ({"byProvider": "amazon"}, ["amazon.fake-embed-v1:0"]),
        ({"byProvider": "fake"}, ["fake.echo-v1:0", "fake.quiet-v1:0"]),  # the id's provider segment
        ({"byProvider": "Anthropic"}, []),
        ({"byOutputModality": "EMBEDDING"}, ["amazon.fake-embed-v1:0"]),
        ({"byOutputModality": "TEXT", "byProvider": "Strata"}, ["fake.echo-v1:0", "fake.quiet-v1:0"]),
        ({"byOutputModality": "IMAGE"}, []),
        ({"byInferenceType": "ON_DEMAND"}, ["fake.echo-v1:0", "amazon.fake-embed-v1:0", "fake.quiet-v1:0"]),
        ({"byInferenceType": "PROVISIONED"}, []),
        ({"byCustomizationType": "FINE_TUNING"}, []),
    ],
)
def test_list_filters(bedrock, filters: dict, expected: list[str]):
    assert ids(bedrock.list_foundation_models(**filters)) == expected


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"byOutputModality": "SMELL"}, "Member must satisfy enum value set: [TEXT, IMAGE, EMBEDDING]"),
        ({"byProvider": "Strata (fake)"}, "at 'byProvider' failed to satisfy constraint"),
    ],
)
def test_list_filter_validation(bedrock, filters: dict, message: str):
    with pytest.raises(bedrock.exceptions.ValidationException) as info:
        bedrock.list_foundation_models(**filters)
    assert message in info.value.response["Error"]["Message"]


@pytest.mark.parametrize("identifier", ["fake.echo-v1:0", ARN])
def test_get_foundation_model_by_id_or_arn(bedrock, identifier: str):
    details = bedrock.get_foundation_model(modelIdentifier=identifier)["modelDetails"]
    assert (details["modelId"], details["modelArn"]) == ("fake.echo-v1:0", ARN)


def test_get_foundation_model_errors(bedrock):
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException, match="not found"):
        bedrock.get_foundation_model(modelIdentifier="fake.missing-v1:0")
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.get_foundation_model(modelIdentifier="Not A Model")


def test_inference_profiles(bedrock):
    assert bedrock.list_inference_profiles()["inferenceProfileSummaries"] == []
    assert (
        bedrock.list_inference_profiles(typeEquals="APPLICATION", maxResults=10)["inferenceProfileSummaries"]
        == []
    )
    arn = "arn:aws:bedrock:eu-west-1:000000000000:application-inference-profile/abc123"
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException, match="Inference profile"):
        bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    with pytest.raises(bedrock.exceptions.ValidationException, match="less than or equal to 1000"):
        bedrock.list_inference_profiles(maxResults=5000)


def test_control_plane_requires_credentials(gateway):
    _, base_url = gateway
    response = httpx.get(base_url + "/foundation-models")
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] in {"AccessDeniedException", "UnrecognizedClientException"}
