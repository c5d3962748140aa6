"""Rate limits end to end: 429 ThrottlingException that botocore's standard retry mode retries.

botocore's backoff is patched to *advance the limiter's clock* by the delay it computed (which
honours ``x-amz-retry-after``) instead of sleeping, so the tests are fast and still exact.
"""

from __future__ import annotations

import asyncio

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff

from model_layer.auth.keystore import policy_of
from model_layer.tenancy.buckets import InProcessBuckets
from model_layer.types import Tenant
from tests.model_layer.auth.g2_harness import CHAT_MODEL, build_gateway, user


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def gateway(tmp_path, clock):
    gw = build_gateway(tmp_path / "gw", buckets=InProcessBuckets(clock))
    yield gw
    gw.keystore.close()


@pytest.fixture
def backoff(monkeypatch, clock):
    """Record botocore's retry delays and let that much time pass on the limiter's clock."""
    delays: list[float] = []
    original = ExponentialBackoff.delay_amount

    def delay_amount(self, context):
        delay = original(self, context)
        delays.append(delay)
        clock.now += delay
        return 0

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", delay_amount)
    return delays


def client_for(url, keys, max_attempts=3):
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
    )
    attempts: list[int] = []
    client.meta.events.register("before-send.bedrock-runtime.Converse", lambda **_: attempts.append(1))
    return client, attempts


def test_throttling_is_retried_by_botocore_then_surfaces(gateway, live_server, backoff):
    keys = gateway.issue("acme", requests_per_minute=1)
    with live_server(gateway.app) as url:
        client, attempts = client_for(url, keys)
        client.converse(modelId=CHAT_MODEL, messages=user("first"))
        with pytest.raises(ClientError) as info:
            client.converse(modelId=CHAT_MODEL, messages=user("second"))
    response = info.value.response
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "1 requests/min" in response["Error"]["Message"]
    assert isinstance(info.value, client.exceptions.ThrottlingException)
    assert len(attempts) == 1 + 3  # the first call, then the throttled one tried 3 times
    retry_after_ms = int(response["ResponseMetadata"]["HTTPHeaders"]["x-amz-retry-after"])
    assert 40_000 < retry_after_ms <= 60_000  # 1/min: the next request in up to a minute
    assert len(backoff) == 2 and all(d >= 5 for d in backoff)  # botocore honoured the header (capped +5 s)
    assert gateway.sample("strata_throttled_requests_total", tenant="acme", limit="requests") == 3


def test_a_retry_after_the_refill_succeeds(gateway, live_server, backoff):
    keys = gateway.issue("acme", requests_per_minute=12)  # one request every 5 s

    tenant = Tenant("acme", keys.access_key_id, policy_of(gateway.keystore.get_tenant("acme")))

    async def drain():
        for _ in range(12):
            await gateway.limiter.admit(tenant, CHAT_MODEL, 0)

    asyncio.run(drain())
    with live_server(gateway.app) as url:
        client, attempts = client_for(url, keys)
        answer = client.converse(modelId=CHAT_MODEL, messages=user("patience"))
    assert "patience" in answer["output"]["message"]["content"][0]["text"]
    assert len(attempts) == 2 and len(backoff) == 1 and backoff[0] >= 5


def test_tokens_per_minute_throttle_after_usage(gateway, live_server):
    keys = gateway.issue("acme", tokens_per_minute=5)
    with live_server(gateway.app) as url:
        client, _ = client_for(url, keys, max_attempts=1)
        used = client.converse(modelId=CHAT_MODEL, messages=user("a b c d e f"))["usage"]["totalTokens"]
        assert used > 5
        with pytest.raises(ClientError) as info:
            client.converse(modelId=CHAT_MODEL, messages=user("again"))
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert "5 tokens/min" in info.value.response["Error"]["Message"]
    assert gateway.sample("strata_throttled_requests_total", tenant="acme", limit="tokens") == 1


def test_default_limits_apply_to_tenants_without_their_own(tmp_path, live_server, clock):
    gateway = build_gateway(tmp_path / "gw", buckets=InProcessBuckets(clock), default_requests_per_minute=1)
    limited, own = gateway.issue("acme"), gateway.issue("vip", requests_per_minute=100)
    with live_server(gateway.app) as url:
        acme, _ = client_for(url, limited, max_attempts=1)
        vip, _ = client_for(url, own, max_attempts=1)
        acme.converse(modelId=CHAT_MODEL, messages=user("one"))
        with pytest.raises(ClientError, match="ThrottlingException"):
            acme.converse(modelId=CHAT_MODEL, messages=user("two"))
        for _ in range(3):
            vip.converse(modelId=CHAT_MODEL, messages=user("fine"))
    gateway.keystore.close()
