"""``GET /health`` and ``GET /metrics``: no authentication, real content."""

from __future__ import annotations

import boto3
import httpx
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from model_layer.app import create_app
from model_layer.config import parse_config
from model_layer.providers.registry import ModelRouter
from model_layer.service import ModelService
from model_layer.settings import GatewaySettings
from tests.model_layer.auth.g2_harness import CHAT_MODEL, PRICED_MODEL, build_gateway, user


def test_health_lists_models_without_auth(tmp_path, live_server):
    gateway = build_gateway(tmp_path / "gw")
    with live_server(gateway.app) as url:
        response = httpx.get(f"{url}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["version"] == gateway.app.version
    assert set(body["models"]) == {CHAT_MODEL, PRICED_MODEL}
    gateway.keystore.close()


def test_health_is_degraded_without_models(tmp_path, live_server):
    service = ModelService(ModelRouter(parse_config({})))
    app = create_app(GatewaySettings(home=tmp_path), service=service, authenticator=object())
    with live_server(app) as url:
        response = httpx.get(f"{url}/health")
    assert (response.status_code, response.json()["status"]) == (503, "degraded")


def test_metrics_expose_requests_tokens_latency_errors_and_auth_failures(tmp_path, live_server):
    gateway = build_gateway(tmp_path / "gw")
    keys = gateway.issue("acme")
    with live_server(gateway.app) as url:
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            config=Config(retries={"total_max_attempts": 1}),
        )
        usage = client.converse(modelId=CHAT_MODEL, messages=user("measure this"))["usage"]
        httpx.post(f"{url}/model/{CHAT_MODEL}/converse", headers={"x-api-key": "sk-strata-wrong"}, json={})
        response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
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
