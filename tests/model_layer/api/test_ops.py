"""``GET /health`` (public, nothing per model or tenant), ``GET /metrics`` and the API docs (not public)."""

from __future__ import annotations

import boto3
import httpx
import pytest
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from model_layer.app import create_app
from model_layer.config import parse_config
from model_layer.providers.registry import ModelRouter
from model_layer.service import ModelService
from model_layer.settings import GatewaySettings
from tests.model_layer.auth.g2_harness import CHAT_MODEL, build_gateway, user

METRICS_TOKEN = "metrics-scrape-token-0123456789"


@pytest.fixture
def gateway(tmp_path):
    gw = build_gateway(tmp_path / "gw")
    yield gw
    gw.keystore.close()


def test_health_says_only_status_and_version(gateway, live_server):
    with live_server(gateway.app) as url:
        response = httpx.get(f"{url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": gateway.app.version}
    assert CHAT_MODEL not in response.text


def test_health_is_degraded_without_models(tmp_path, live_server):
    service = ModelService(ModelRouter(parse_config({})))
    app = create_app(GatewaySettings(home=tmp_path), service=service, authenticator=object())
    with live_server(app) as url:
        response = httpx.get(f"{url}/health")
    assert (response.status_code, response.json()["status"]) == (503, "degraded")


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
def test_metrics_and_docs_are_not_served_to_anyone_by_default(gateway, live_server, path):
    with live_server(gateway.app) as url:
        response = httpx.get(url + path)
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert response.json() == {"message": f"No operation matches GET {path}"}


def test_docs_setting_serves_the_docs_and_the_schema(tmp_path, live_server):
    gateway = build_gateway(tmp_path / "gw", docs=True)
    with live_server(gateway.app) as url:
        schema = httpx.get(f"{url}/openapi.json")
        docs = httpx.get(f"{url}/docs")
    assert schema.status_code == 200 and "/model/{model_id}/converse" in schema.json()["paths"]
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    gateway.keystore.close()


def test_schema_stays_available_in_process_with_docs_off(gateway):
    assert "/v1/chat/completions" in gateway.app.openapi()["paths"]


def _converse_once(url: str, keys) -> dict:
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )
    return client.converse(modelId=CHAT_MODEL, messages=user("measure this"))["usage"]


def test_metrics_token_is_required_on_the_main_port(tmp_path, live_server):
    gateway = build_gateway(tmp_path / "gw", metrics_token=METRICS_TOKEN)
    refused_headers = [
        [],
        [("authorization", "Bearer wrong-token")],
        [("authorization", METRICS_TOKEN)],  # no scheme
        [("authorization", "Bearer")],
        [("authorization", f"Bearer {METRICS_TOKEN}"), ("authorization", "Bearer x")],
    ]
    with live_server(gateway.app) as url:
        refused = [httpx.get(f"{url}/metrics", headers=h) for h in refused_headers]
        ok = httpx.get(f"{url}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    for response in refused:
        assert response.status_code == 403
        assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"
        assert METRICS_TOKEN not in response.text and "strata_" not in response.text
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain; version=")
    gateway.keystore.close()


def test_metrics_expose_requests_tokens_latency_errors_and_auth_failures(tmp_path, live_server):
    gateway = build_gateway(tmp_path / "gw", metrics_token=METRICS_TOKEN)
    keys = gateway.issue("acme")
    with live_server(gateway.app) as url:
        usage = _converse_once(url, keys)
        httpx.post(f"{url}/model/{CHAT_MODEL}/converse", headers={"x-api-key": "sk-strata-wrong"}, json={})
        response = httpx.get(f"{url}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    labels = (("model", CHAT_MODEL), ("operation", "Converse"), ("tenant", "acme"))
    assert samples["strata_model_requests_total", labels] == 1
    assert (
        samples["strata_model_tokens_total", (*labels[:2], ("tenant", "acme"), ("type", "input"))]
        == (usage["inputTokens"])
    )
    assert samples["strata_model_latency_seconds_count", labels] == 1
    assert samples["strata_auth_failures_total", (("code", "UnrecognizedClientException"),)] == 1
    gateway.keystore.close()
