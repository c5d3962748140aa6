"""``cancel_on_disconnect``: the work runs in the request's own task and is cancelled when the
client leaves; any other cancellation stays a cancellation, and no cancel is left counted."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from model_layer.api.disconnect import ClientDisconnected, cancel_on_disconnect


class _Request:
    """What the helper uses of a Starlette request: ``receive()`` (the body was read already)."""

    def __init__(self, leaves_after_s: float | None) -> None:
        self.leaves_after_s = leaves_after_s

    async def receive(self) -> dict:
        if self.leaves_after_s is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.leaves_after_s)
        return {"type": "http.disconnect"}


async def _work(seconds: float, seen: list[str]) -> str:
    try:
        await asyncio.sleep(seconds)
        return "answer"
    except asyncio.CancelledError:
        seen.append("cancelled")
        raise


def test_a_client_that_leaves_cancels_the_work():
    async def main():
        seen: list[str] = []
        with pytest.raises(ClientDisconnected):
            await cancel_on_disconnect(_Request(0.02), _work(5, seen))
        assert seen == ["cancelled"] and asyncio.current_task().cancelling() == 0

    asyncio.run(asyncio.wait_for(main(), 5))


def test_work_done_before_the_client_leaves_is_answered():
    async def main():
        assert await cancel_on_disconnect(_Request(None), _work(0.01, [])) == "answer"
        assert asyncio.current_task().cancelling() == 0

    asyncio.run(main())


def test_a_cancel_from_elsewhere_stays_a_cancel():
    async def main():
        seen: list[str] = []
        call = asyncio.ensure_future(cancel_on_disconnect(_Request(None), _work(5, seen)))
        await asyncio.sleep(0.02)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert seen == ["cancelled"]

    asyncio.run(main())


def test_work_that_finishes_despite_the_cancel_leaves_no_cancel_counted():
    async def stubborn() -> str:
        with contextlib.suppress(asyncio.CancelledError):  # e.g. bookkeeping that must finish
            await asyncio.sleep(5)
        return "finished anyway"

    async def main():
        assert await cancel_on_disconnect(_Request(0.02), stubborn()) == "finished anyway"
        assert asyncio.current_task().cancelling() == 0

    asyncio.run(main())
