"""Token buckets: the same rules in process (with a controlled clock) and in a real Redis."""

from __future__ import annotations

import asyncio
import time

import pytest

from model_layer.tenancy.buckets import InProcessBuckets, Limits, refill, wait_for_one
from tests.model_layer.tenancy.redis_server import running_redis


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coro):
    return asyncio.run(coro)


def test_refill_math():
    assert refill(0, 0, 30, 60) == 30  # 60/min = 1/s
    assert refill(50, 0, 3600, 60) == 60  # capped at capacity
    assert refill(-90, 0, 60, 60) == -30  # debt is repaid at the same rate
    assert wait_for_one(-150, 100) == pytest.approx(90.6)


def test_requests_per_minute_burst_then_refill():
    clock = Clock()
    buckets = InProcessBuckets(clock)
    limits = Limits(requests_per_minute=2)
    assert [run(buckets.acquire("acme", limits)).allowed for _ in range(2)] == [True, True]
    denied = run(buckets.acquire("acme", limits))
    assert (denied.allowed, denied.limit) == (False, "requests")
    assert denied.retry_after_s == pytest.approx(30.0)  # one request every 30 s
    assert run(buckets.acquire("beta", limits)).allowed  # tenants are independent
    clock.now += 29.9
    assert not run(buckets.acquire("acme", limits)).allowed
    clock.now += 0.1
    assert run(buckets.acquire("acme", limits)).allowed
    clock.now += 3600  # idle for an hour: the burst is still one minute's worth
    assert [run(buckets.acquire("acme", limits)).allowed for _ in range(3)] == [True, True, False]


def test_tokens_per_minute_are_charged_after_the_call_and_debt_waits():
    clock = Clock()
    buckets = InProcessBuckets(clock)
    limits = Limits(tokens_per_minute=100)
    assert run(buckets.acquire("acme", limits)).allowed
    run(buckets.consume_tokens("acme", limits, 250))  # the call used more than a minute's worth
    denied = run(buckets.acquire("acme", limits))
    assert (denied.allowed, denied.limit) == (False, "tokens")
    assert denied.retry_after_s == pytest.approx(90.6)
    clock.now += 90.6
    assert run(buckets.acquire("acme", limits)).allowed


def test_unlimited_never_refuses():
    buckets = InProcessBuckets(Clock())
    for _ in range(1000):
        assert run(buckets.acquire("acme", Limits())).allowed
        run(buckets.consume_tokens("acme", Limits(), 10**6))


# --- Redis: a real redis-server on a free loopback port ---------------------------------------


@pytest.fixture
def redis_url(tmp_path):
    with running_redis(tmp_path) as url:
        yield url


def test_redis_buckets_follow_the_same_rules_and_are_shared(redis_url):
    from model_layer.tenancy.redis_buckets import KEY_PREFIX, RedisBuckets

    async def scenario():
        replica_a, replica_b = RedisBuckets(redis_url), RedisBuckets(redis_url)
        try:
            rpm = Limits(requests_per_minute=3)
            # two gateway replicas share one tenant's 3 requests/min
            got = [await r.acquire("acme", rpm) for r in (replica_a, replica_b, replica_a, replica_b)]
            tpm = Limits(tokens_per_minute=100)
            await replica_a.consume_tokens("beta", tpm, 250)
            in_debt = await replica_b.acquire("beta", tpm)
            unlimited = await replica_a.acquire("gamma", Limits())
            ttl = await replica_a._client.ttl(KEY_PREFIX + "beta")
            gamma_exists = await replica_a._client.exists(KEY_PREFIX + "gamma")
            return got, in_debt, unlimited, ttl, gamma_exists
        finally:
            await replica_a.aclose()
            await replica_b.aclose()

    got, in_debt, unlimited, ttl, gamma_exists = run(scenario())
    assert [d.allowed for d in got] == [True, True, True, False]
    assert got[3].limit == "requests" and 19.5 < got[3].retry_after_s <= 20.0
    assert (in_debt.allowed, in_debt.limit) == (False, "tokens")
    assert 90.0 < in_debt.retry_after_s <= 90.6
    assert unlimited.allowed and not gamma_exists
    assert 145 < ttl <= 151  # until the bucket is full again: 250 tokens at 100/min


def test_redis_buckets_refill_with_time(redis_url):
    from model_layer.tenancy.redis_buckets import RedisBuckets

    async def scenario():
        buckets = RedisBuckets(redis_url)
        try:
            limits = Limits(tokens_per_minute=6000)  # 100 tokens/s
            await buckets.consume_tokens("acme", limits, 6001)
            first = await buckets.acquire("acme", limits)
            deadline = time.monotonic() + 5
            while not (await buckets.acquire("acme", limits)).allowed:  # poll: refills in ~20 ms
                assert time.monotonic() < deadline
                await asyncio.sleep(0.005)
            return first
        finally:
            await buckets.aclose()

    first = run(scenario())
    assert not first.allowed and 0 < first.retry_after_s <= 0.02


def test_redis_down_is_a_service_unavailable_error():
    from model_layer.errors import ServiceUnavailableException
    from model_layer.tenancy.redis_buckets import RedisBuckets

    async def scenario():
        buckets = RedisBuckets("redis://127.0.0.1:1/0")  # nothing listens on port 1
        try:
            await buckets.acquire("acme", Limits(requests_per_minute=1))
        finally:
            await buckets.aclose()

    with pytest.raises(ServiceUnavailableException, match="rate-limit store unavailable"):
        run(scenario())
