"""Stop a non-streaming model call when its client goes away.

A non-streaming call is a collected stream (``ModelService.converse``); when the client hangs up
before the answer is ready, cancelling that collection closes the provider's stream, which frees
the engine slot exactly as a disconnected streaming client does. ASGI servers tell us through
``http.disconnect`` on the request's receive channel (the body has been read already).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client closed the connection before the response was ready."""


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``; cancel it (and raise :class:`ClientDisconnected`) if the client leaves."""
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                task.cancel()
                return

    watcher = asyncio.ensure_future(watch())
    try:
        return await task
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            raise ClientDisconnected() from None
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
