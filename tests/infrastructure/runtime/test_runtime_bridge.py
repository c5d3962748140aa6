"""The thread bridge under engine streams: stopping early tells the producer at once, errors arrive.

A stand-in iterator plays the engine's stream (blocking ``next()``, a ``cancel()`` method), so the
order of events is exact, with events instead of sleeps; the real engine is covered in
test_runtime_engine.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest

from infrastructure.runtime.bridge import iterate_in_thread
from infrastructure.runtime.errors import InvalidRequestError


class BlockingStream(Iterator[int]):
    """Yields 1, then blocks in ``next()`` until released, like an engine between two chunks."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.cancelled = threading.Event()
        self.cancelled_while_blocked = False
        self.closed = threading.Event()
        self._sent = 0

    def __next__(self) -> int:
        self._sent += 1
        if self._sent == 1:
            return 1
        if not self.release.wait(10):
            raise AssertionError("never released")
        if self._sent > 2:
            raise StopIteration
        return 2

    def cancel(self) -> None:
        self.cancelled_while_blocked = not self.release.is_set()
        self.cancelled.set()
        self.release.set()  # the engine's next chunk would come now and be its last

    def close(self) -> None:
        self.closed.set()


def test_leaving_early_cancels_the_producer_while_it_is_blocked():
    stream = BlockingStream()

    async def consume_one() -> None:
        chunks = iterate_in_thread(lambda: stream)
        async with contextlib.aclosing(chunks):
            async for _ in chunks:
                break  # the producer is now blocked inside next()

    asyncio.run(asyncio.wait_for(consume_one(), 10))
    # cancel() came from the consumer's side, not after the producer's next item.
    assert stream.cancelled.wait(10) and stream.cancelled_while_blocked
    assert stream.closed.wait(10)  # and the worker still closes the iterator


def test_an_iterator_that_fails_to_start_raises_instead_of_hanging():
    def bad_request() -> Iterator[int]:
        raise InvalidRequestError("'messages' must be a non-empty list")

    async def consume() -> list[int]:
        return [item async for item in iterate_in_thread(bad_request)]

    with pytest.raises(InvalidRequestError, match="non-empty"):
        asyncio.run(asyncio.wait_for(consume(), 10))
