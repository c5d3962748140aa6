"""Production wiring: ``create_app(settings)`` builds auth, limits and metering from settings alone.

Two app instances over one state directory and one Redis are two gateway replicas: they share
keys, usage and rate limits.
"""

from __future__ import annotations

import json

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from model_layer.app import create_app
from model_layer.auth.keystore import KeyStore
from model_layer.settings import GatewaySettings
from model_layer.state import open_state
from model_layer.tenancy import build_limiter
from model_layer.tenancy.redis_buckets import RedisBuckets
from tests.model_layer.tenancy.redis_server import running_redis

STRATA_TOML = """
[quotas]
requests_per_minute = 2

[[providers]]
name = "fake"
type = "fake"

[[models]]
id = "fake.echo-v1:0"
provider = "fake"

[retry]
max_attempts = 1
"""


@pytest.fixture
def redis_url(tmp_path):
    with running_redis(tmp_path) as url:
        yield url


def converse(url: str, keys, text: str):
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )
    return client.converse(modelId="fake.echo-v1:0", messages=[{"role": "user", "content": [{"text": text}]}])


def test_two_replicas_share_keys_limits_and_usage(tmp_path, redis_url, live_server):
    home = tmp_path / "state"
    home.mkdir()
    (home / "strata.toml").write_text(STRATA_TOML)
    log = tmp_path / "invocations.jsonl"
    settings = GatewaySettings(home=home, redis_url=redis_url, invocation_log=log, metrics_token="scrape")
    assert isinstance(build_limiter(settings).store, RedisBuckets)
    store = KeyStore.open(settings)
    keys = store.create_keys("wired-tenant")  # default quota from strata.toml: 2 requests/min
    store.close()

    with live_server(create_app(settings)) as replica_a, live_server(create_app(settings)) as replica_b:
        assert "one" in converse(replica_a, keys, "one")["output"]["message"]["content"][0]["text"]
        converse(replica_b, keys, "two")
        with pytest.raises(ClientError) as info:
            converse(replica_a, keys, "three")
        metrics = httpx.get(f"{replica_b}/metrics", headers={"authorization": "Bearer scrape"}).text

    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert "2 requests/min" in info.value.response["Error"]["Message"]
    state = open_state(settings)
    (row,) = state.usage.summarize(tenant_id="wired-tenant")
    state.close()
    assert row.requests == 2
    assert [json.loads(line)["tenantId"] for line in log.read_text().splitlines()] == ["wired-tenant"] * 2
    assert (
        'strata_model_requests_total{model="fake.echo-v1:0",operation="Converse",tenant="wired-tenant"}'
        in metrics
    )
