"""Token buckets with worst-case reservations: the same rules in process and in a real Redis."""

from __future__ import annotations

import asyncio
import time

import pytest

from model_layer.tenancy.buckets import InProcessBuckets, Limits, Scope, refill, tokens_needed, wait_for
from tests.model_layer.tenancy.redis_server import running_redis


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coro):
    return asyncio.run(coro)


def scope(key: str = "acme", rpm: int | None = None, tpm: int | None = None) -> Scope:
    return Scope(key, Limits(requests_per_minute=rpm, tokens_per_minute=tpm))


def test_refill_math():
    assert refill(0, 0, 30, 60) == 30  # 60/min = 1/s
    assert refill(50, 0, 3600, 60) == 60  # capped at capacity
    assert refill(-90, 0, 60, 60) == -30  # debt is repaid at the same rate
    assert wait_for(-150, 1, 100) == pytest.approx(90.6)
    assert tokens_needed(0, 100) == 1 and tokens_needed(40, 100) == 40 and tokens_needed(500, 100) == 100


def test_requests_per_minute_burst_then_refill():
    clock = Clock()
    buckets = InProcessBuckets(clock)
    acme = [scope(rpm=2)]
    assert [run(buckets.reserve(acme, 0)).allowed for _ in range(2)] == [True, True]
    denied = run(buckets.reserve(acme, 0))
    assert (denied.allowed, denied.limit, denied.scope) == (False, "requests", "acme")
    assert denied.retry_after_s == pytest.approx(30.0)  # one request every 30 s
    assert run(buckets.reserve([scope("beta", rpm=2)], 0)).allowed  # tenants are independent
    clock.now += 29.9
    assert not run(buckets.reserve(acme, 0)).allowed
    clock.now += 0.1
    assert run(buckets.reserve(acme, 0)).allowed
    clock.now += 3600  # idle for an hour: the burst is still one minute's worth
    assert [run(buckets.reserve(acme, 0)).allowed for _ in range(3)] == [True, True, False]


def test_the_worst_case_is_reserved_so_concurrent_calls_cannot_overrun():
    """The issue's case: TPM=100, 20 concurrent calls of maxTokens 200 — only one may run."""
    buckets = InProcessBuckets(Clock())
    acme = [scope(tpm=100)]
    decisions = [run(buckets.reserve(acme, 200)) for _ in range(20)]
    assert [d.allowed for d in decisions] == [True] + [False] * 19
    assert decisions[1].limit == "tokens"
    assert decisions[1].retry_after_s == pytest.approx(120.0)  # from -100 back up to a full 100


def test_settling_refunds_what_was_not_used():
    clock = Clock()
    buckets = InProcessBuckets(clock)
    acme = [scope(tpm=100)]
    assert run(buckets.reserve(acme, 60)).allowed  # 40 left
    assert not run(buckets.reserve(acme, 60)).allowed
    run(buckets.settle(acme, 60 - 15))  # the first call used 15 of its 60: 85 left
    assert run(buckets.reserve(acme, 60)).allowed
    run(buckets.settle(acme, -50))  # a call that used 50 more than it reserved: into debt
    denied = run(buckets.reserve(acme, 1))
    assert not denied.allowed and denied.retry_after_s == pytest.approx((1 + 25) * 0.6)


def test_a_refused_call_takes_nothing_from_any_scope():
    buckets = InProcessBuckets(Clock())
    both = [scope("acme", rpm=10, tpm=1000), scope("acme|m", tpm=50)]
    assert run(buckets.reserve(both, 40)).allowed
    denied = run(buckets.reserve(both, 40))  # the model scope has 10 left
    assert (denied.allowed, denied.scope) == (False, "acme|m")
    # the tenant scope was not charged for the refused call: 9 requests and 960 tokens remain
    assert run(buckets.reserve([scope("acme", rpm=10, tpm=1000)], 960)).allowed


def test_unlimited_never_refuses():
    buckets = InProcessBuckets(Clock())
    for _ in range(1000):
        assert run(buckets.reserve([], 10**6)).allowed


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
            rpm = [scope(rpm=3)]
            # two gateway replicas share one tenant's 3 requests/min
            got = [await r.reserve(rpm, 0) for r in (replica_a, replica_b, replica_a, replica_b)]
            tpm = [scope("beta", tpm=100)]
            first = await replica_a.reserve(tpm, 200)  # worst case above the limit: needs a full bucket
            second = await replica_b.reserve(tpm, 200)
            await replica_a.settle(tpm, 200 - 250)  # it used 250
            in_debt = await replica_b.reserve(tpm, 1)
            both = [scope("gamma", tpm=1000), scope("gamma|m", tpm=50)]
            await replica_a.reserve(both, 40)
            refused = await replica_b.reserve(both, 40)  # the model scope holds 10
            untouched = await replica_b.reserve([scope("gamma", tpm=1000)], 960)
            ttl = await replica_a._client.ttl(KEY_PREFIX + "beta")
            return got, first, second, in_debt, refused, untouched, ttl
        finally:
            await replica_a.aclose()
            await replica_b.aclose()

    got, first, second, in_debt, refused, untouched, ttl = run(scenario())
    assert [d.allowed for d in got] == [True, True, True, False]
    assert got[3].limit == "requests" and 19.5 < got[3].retry_after_s <= 20.0
    assert first.allowed and (second.allowed, second.limit) == (False, "tokens")
    assert (in_debt.allowed, in_debt.limit) == (False, "tokens")
    assert 90.0 < in_debt.retry_after_s <= 90.6  # -150 -> +1 at 100/min
    assert (refused.allowed, refused.scope) == (False, "gamma|m") and untouched.allowed
    assert 145 < ttl <= 152  # until the bucket is full again: 250 tokens at 100/min


def test_redis_buckets_refill_with_time(redis_url):
    from model_layer.tenancy.redis_buckets import RedisBuckets

    async def scenario():
        buckets = RedisBuckets(redis_url)
        try:
            acme = [scope(tpm=6000)]  # 100 tokens/s
            await buckets.reserve(acme, 6000)
            await buckets.settle(acme, -1)
            first = await buckets.reserve(acme, 1)
            deadline = time.monotonic() + 5
            while not (await buckets.reserve(acme, 1)).allowed:  # poll: refills in ~20 ms
                assert time.monotonic() < deadline
                await asyncio.sleep(0.005)
            return first
        finally:
            await buckets.aclose()

    first = run(scenario())
    assert not first.allowed and 0 < first.retry_after_s <= 0.03


def test_redis_down_is_a_service_unavailable_error():
    from model_layer.errors import ServiceUnavailableException
    from model_layer.tenancy.redis_buckets import RedisBuckets

    async def scenario():
        buckets = RedisBuckets("redis://127.0.0.1:1/0")  # nothing listens on port 1
        try:
            await buckets.reserve([scope(rpm=1)], 0)
        finally:
            await buckets.aclose()

    with pytest.raises(ServiceUnavailableException, match="rate-limit store is unavailable"):
        run(scenario())
