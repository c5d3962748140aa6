"""``with_timeout``: one timer per stream bounds each wait for an event, never the consumer's pauses,
and a cancellation from elsewhere stays a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from model_layer.errors import ModelTimeoutException
from model_layer.providers.resilience import with_timeout


async def _events(gaps: list[float]):
    for i, gap in enumerate(gaps):
        await asyncio.sleep(gap)
        yield i


async def _read(stream, pause_s: float = 0.0) -> list[int]:
    seen = []
    async for event in stream:
        seen.append(event)
        await asyncio.sleep(pause_s)  # the consumer's own pause: not the model's time
    return seen


def test_waits_under_the_bound_pass_however_long_the_whole_stream():
    # 8 gaps of 40 ms against a 100 ms bound: 320 ms in all, each wait under the bound
    assert asyncio.run(_read(with_timeout(_events([0.04] * 8), 0.1, "m"))) == list(range(8))


def test_consumer_pauses_do_not_count():
    assert asyncio.run(_read(with_timeout(_events([0.0] * 3), 0.05, "m"), pause_s=0.15)) == [0, 1, 2]


@pytest.mark.parametrize("gaps", [[0.5], [0.0, 0.0, 0.5]], ids=["first event", "between events"])
def test_a_wait_past_the_bound_is_a_model_timeout(gaps):
    async def main():
        started = asyncio.get_running_loop().time()
        with pytest.raises(ModelTimeoutException, match=r"did not respond within 0\.1 s"):
            await _read(with_timeout(_events(gaps), 0.1, "m"))
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # the clock's cancel was taken back
        return asyncio.get_running_loop().time() - started

    assert 0.09 < asyncio.run(main()) < 0.4


def test_timer_armed_in_an_earlier_wait_rearms_for_the_rest():
    # A long consumer pause after event 0, then a wait just under the bound: no timeout even though
    # the single timer was armed during the first wait and fires during the second.
    async def stream():
        yield 0
        await asyncio.sleep(0.07)
        yield 1

    async def main():
        it = with_timeout(stream(), 0.1, "m")
        assert await it.__anext__() == 0
        await asyncio.sleep(0.06)
        assert await it.__anext__() == 1

    asyncio.run(main())


def test_a_cancel_from_elsewhere_stays_a_cancel():
    async def main():
        reader = asyncio.ensure_future(_read(with_timeout(_events([5.0]), 10, "m")))
        await asyncio.sleep(0.02)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader

    asyncio.run(main())


def test_no_timer_is_left_behind():
    async def main():
        loop = asyncio.get_running_loop()
        await _read(with_timeout(_events([0.0, 0.0]), 30, "m"))
        return [h for h in loop._scheduled if not h.cancelled()]

    assert asyncio.run(main()) == []
