"""Admission reserves a call's worst case, so bursts cannot overrun a limit; per-model limits.

Real boto3 and openai clients, many at once, against the gateway on a loopback port. The
in-process buckets run on a frozen clock (levels change only by admissions and settlements);
the Redis variant shares the same rules across replicas on Redis' own clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import openai
import pytest
from botocore.exceptions import ClientError

from model_layer.tenancy.buckets import InProcessBuckets
from model_layer.tenancy.redis_buckets import RedisBuckets
from tests.model_layer.tenancy.redis_server import running_redis
from tests.model_layer.tenancy.tenancy_harness import (
    CHAT_MODEL,
    PRICED_MODEL,
    Clock,
    build,
    config,
    openai_client,
    runtime,
    usage_rows,
    user,
)

BURST = 20


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; each result is a return value or an exception."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # collected for the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.fixture(params=["in-process", "redis"])
def buckets(request, tmp_path):
    if request.param == "in-process":
        yield InProcessBuckets(Clock())
        return
    with running_redis(tmp_path) as url:
        yield RedisBuckets(url)


def test_a_burst_of_big_calls_is_bounded_by_the_reservation(tmp_path, live_server, buckets):
    """TPM 100, 20 concurrent calls each allowed 200 output tokens: exactly one is admitted."""
    gw = build(tmp_path / "gw", doc=config(delay_s=0.3), buckets=buckets)
    keys = gw.issue("acme", tokens_per_minute=100)
    with live_server(gw.app) as url:
        client = runtime(url, keys, max_pool_connections=BURST)

        def big() -> dict[str, Any]:
            return client.converse(
                modelId=CHAT_MODEL, messages=user("burst"), inferenceConfig={"maxTokens": 200}
            )

        results = at_once([big] * BURST)
        served = [r for r in results if isinstance(r, dict)]
        refused = [r for r in results if isinstance(r, ClientError)]
        assert len(served) == 1 and len(refused) == BURST - 1, results
        for error in refused:
            assert error.response["Error"]["Code"] == "ThrottlingException"
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            assert int(error.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-retry-after"]) > 0
        used = served[0]["usage"]["totalTokens"]
        assert used < 20  # "You said: burst"
        # Settled: the unused reservation came back, so a small call fits...
        small = client.converse(modelId=CHAT_MODEL, messages=user("small"), inferenceConfig={"maxTokens": 5})
        assert small["stopReason"] in ("end_turn", "max_tokens")
        # ...but another big one needs a full bucket, which it is not.
        with pytest.raises(ClientError, match="ThrottlingException"):
            big()
    rows = usage_rows(gw, "acme", 2)
    assert len(rows) == 2  # refused calls are not metered
    assert gw.sample("strata_throttled_requests_total", tenant="acme", limit="tokens") == BURST


def test_an_openai_burst_is_bounded_and_told_when_to_retry(tmp_path, live_server):
    gw = build(tmp_path / "gw", doc=config(delay_s=0.3))
    keys = gw.issue("acme", tokens_per_minute=100)
    with live_server(gw.app) as url:
        client = openai_client(url, keys.api_key)

        def big():
            return client.chat.completions.create(
                model=CHAT_MODEL, messages=[{"role": "user", "content": "burst"}], max_tokens=200
            )

        results = at_once([big] * BURST)
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(refused) == BURST - 1, results
    assert all(int(r.response.headers["retry-after"]) >= 1 for r in refused)
    assert {r.body["type"] for r in refused} == {"rate_limit_error"}
    gw.keystore.close()


def test_a_per_model_limit_throttles_only_that_model(tmp_path, live_server):
    gw = build(tmp_path / "gw")
    keys = gw.issue("acme", requests_per_minute=1000, tokens_per_minute=100_000)
    gw.keystore.set_tenant("acme", model_limits=[{"model_id": PRICED_MODEL, "requests_per_minute": 1}])
    with live_server(gw.app) as url:
        client = runtime(url, keys)
        client.converse(modelId=PRICED_MODEL, messages=user("one"))
        with pytest.raises(ClientError) as info:
            client.converse(modelId=PRICED_MODEL, messages=user("two"))
        with pytest.raises(ClientError, match="ThrottlingException"):  # an alias is the same model
            client.converse(modelId=f"us.{PRICED_MODEL}", messages=user("three"))
        for i in range(5):
            client.converse(modelId=CHAT_MODEL, messages=user(f"other model {i}"))
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert "1 requests/min" in info.value.response["Error"]["Message"]
    gw.keystore.close()


def test_a_models_limit_in_strata_toml_binds_every_tenant_without_its_own(tmp_path, live_server):
    doc = config(models={PRICED_MODEL: {"requests_per_minute": 1}})
    gw = build(tmp_path / "gw", doc=doc)
    acme, beta, gold = gw.issue("acme"), gw.issue("beta"), gw.issue("gold")
    gw.keystore.set_tenant("gold", model_limits=[{"model_id": PRICED_MODEL, "requests_per_minute": 3}])
    outcomes: dict[str, list[str]] = {}
    with live_server(gw.app) as url:
        for name, keys in (("acme", acme), ("beta", beta), ("gold", gold)):
            client = runtime(url, keys)
            outcomes[name] = []
            for i in range(4):
                try:
                    client.converse(modelId=PRICED_MODEL, messages=user(f"call {i}"))
                    outcomes[name].append("ok")
                except ClientError as exc:
                    outcomes[name].append(exc.response["Error"]["Code"])
            client.converse(modelId=CHAT_MODEL, messages=user("unlimited model"))
    throttled = "ThrottlingException"
    assert outcomes == {
        "acme": ["ok", throttled, throttled, throttled],  # per tenant, not shared
        "beta": ["ok", throttled, throttled, throttled],
        "gold": ["ok", "ok", "ok", throttled],  # its own limit on the model wins
    }
    gw.keystore.close()


def test_a_models_tokens_per_minute_in_strata_toml_reserves_too(tmp_path, live_server):
    doc = config(models={PRICED_MODEL: {"tokens_per_minute": 50}})
    gw = build(tmp_path / "gw", doc=doc)
    keys = gw.issue("acme")
    with live_server(gw.app) as url:
        client = runtime(url, keys)
        client.converse(modelId=PRICED_MODEL, messages=user("hi"), inferenceConfig={"maxTokens": 45})
        with pytest.raises(ClientError) as info:  # 50 - used < 5 + 45
            client.converse(modelId=PRICED_MODEL, messages=user("hi"), inferenceConfig={"maxTokens": 45})
        client.converse(modelId=CHAT_MODEL, messages=user("hi"), inferenceConfig={"maxTokens": 45})
    assert "50 tokens/min" in info.value.response["Error"]["Message"]
    gw.keystore.close()


def test_count_tokens_counts_against_the_request_rate(tmp_path, live_server):
    """CountTokens runs the provider's tokenizer (a round trip for a remote model) on bodies of
    up to 25 MB; a tenant allowed 2 requests a minute must not be able to call it without end."""
    gw = build(tmp_path / "gw")
    keys = gw.issue("acme", requests_per_minute=2)
    codes = []
    with live_server(gw.app) as url:
        client = runtime(url, keys)
        for _ in range(4):
            try:
                client.count_tokens(
                    modelId=CHAT_MODEL, input={"converse": {"messages": user("count " * 1000)}}
                )
                codes.append("ok")
            except ClientError as exc:
                codes.append(exc.response["Error"]["Code"])
    assert codes == ["ok", "ok", "ThrottlingException", "ThrottlingException"]
    gw.keystore.close()
