"""Run blocking engine calls off the event loop: one dedicated thread per request.

A dedicated thread (not the loop's default executor, which has ``cpu_count + 4`` workers) so that
``n_parallel`` concurrent streams can never starve each other or other ``to_thread`` users.
Cancellation is cooperative: when the async consumer stops, an iterator with a ``cancel()`` method
(an engine stream) is told at once, from the event loop, so it stops at its next item; the worker
then closes the sync iterator, whose ``finally`` frees the engine slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_ITEM, _ERROR, _DONE = "item", "error", "done"


async def run_in_thread(func: Callable[..., T], *args: Any) -> T:
    """Await ``func(*args)`` run in a fresh daemon thread."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():  # the awaiting task was cancelled meanwhile
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            result = func(*args)
        except BaseException as exc:
            _post(loop, settle, False, exc)
        else:
            _post(loop, settle, True, result)

    threading.Thread(target=work, name="strata-engine-call", daemon=True).start()
    return await future


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    # The loop may be gone if the consumer's program exited first; nothing left to notify.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


async def iterate_in_thread(make_iterator: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Async-iterate a blocking iterator that runs in its own thread; stopping early cancels it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()
    started: list[Iterator[T]] = []  # the iterator, once the worker has made it

    def pump() -> None:
        iterator: Iterator[T] | None = None
        try:
            # Made here, inside the try: an iterator that fails to start (a bad request) must
            # still end the consumer's wait with the error.
            iterator = make_iterator()
            started.append(iterator)
            if stop.is_set():  # the consumer left while the iterator was being made
                _cancel(iterator)
            for item in iterator:
                if stop.is_set():
                    break
                _post(loop, queue.put_nowait, (_ITEM, item))
        except BaseException as exc:
            _post(loop, queue.put_nowait, (_ERROR, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
            _post(loop, queue.put_nowait, (_DONE, None))

    threading.Thread(target=pump, name="strata-engine-stream", daemon=True).start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == _ITEM:
                yield value
            elif kind == _ERROR:
                raise value
            else:
                return
    finally:
        stop.set()
        # Without this the worker, blocked in next(), would only notice after one more item.
        for iterator in started:
            _cancel(iterator)


def _cancel(iterator: Any) -> None:
    cancel = getattr(iterator, "cancel", None)
    if cancel is not None:
        cancel()
