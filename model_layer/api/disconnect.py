"""Stop a non-streaming model call when its client goes away.

A non-streaming call is a collected stream (``ModelService.converse``); when the client hangs up
before the answer is ready, cancelling that collection closes the provider's stream, which frees
the engine slot exactly as a disconnected streaming client does. ASGI servers tell us through
``http.disconnect`` on the request's receive channel (the body has been read already).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client closed the connection before the response was ready."""


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``; cancel it (and raise :class:`ClientDisconnected`) if the client leaves.

    ``work`` runs in the request's own task and only the watcher gets a task of its own: one task
    per call fewer than wrapping the work (each is a measurable part of a call's CPU).
    """
    task = asyncio.current_task()
    assert task is not None
    gone, cancelling = False, task.cancelling()

    async def watch() -> None:
        nonlocal gone
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                gone = True
                task.cancel()
                return

    watcher = asyncio.ensure_future(watch())
    try:
        result = await work
    except asyncio.CancelledError:
        # Ours (the client left) unless the task is being cancelled from elsewhere as well.
        if gone and task.uncancel() <= cancelling:
            raise ClientDisconnected() from None
        raise
    finally:
        watcher.cancel()  # not awaited: it is parked in receive() and ends at its next step
    if gone:  # the work finished although it was cancelled (it caught the cancellation): take it back
        task.uncancel()
    return result
