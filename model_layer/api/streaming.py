"""The one guarded streaming path every streaming route uses (Bedrock event streams, OpenAI SSE).

A streaming route pulls the service stream's first event before it answers (so a failure the
provider raises at once is a plain HTTP error), then hands the rest to :func:`guarded`, which

- turns a failure after the first byte into the family's in-stream error (an event-stream
  exception frame, or an SSE ``data: {"error": …}``), logging anything that is not a
  :class:`~model_layer.errors.GatewayError` and never sending its text;
- always closes the service stream, shielded from cancellation, so a disconnect stops the
  provider, frees the engine slot and reaches the meter.

:class:`GuardedStreamingResponse` closes its body iterator even when the client is gone before
the body starts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from fastapi.responses import StreamingResponse
from starlette.types import Send

from model_layer.errors import GatewayError, InternalServerException
from model_layer.types import StreamEvent

log = logging.getLogger("strata.gateway.streaming")

ErrorFrame = Callable[[GatewayError], bytes]


async def first_event(events: AsyncIterator[StreamEvent]) -> StreamEvent | None:
    """Pull the first event before answering 200, so early failures are plain HTTP errors."""
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None


async def chain(first: StreamEvent | None, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    """The stream again, with the event :func:`first_event` took put back in front."""
    if first is None:
        return
    yield first
    async for event in events:
        yield event


async def guarded(
    frames: AsyncIterator[bytes],
    events: AsyncIterator[StreamEvent],
    error_frame: ErrorFrame,
    operation: str,
) -> AsyncIterator[bytes]:
    """Yield ``frames``; a failure becomes ``error_frame(exc)``; always close ``events``."""
    try:
        async for frame in frames:
            yield frame
    except GatewayError as exc:
        yield error_frame(exc)
    except Exception:
        log.exception("%s stream failed", operation)
        yield error_frame(InternalServerException("The stream failed with an internal error"))
    finally:
        # Shielded: on disconnect this runs inside a cancelled scope, and closing the service
        # stream must still reach the provider (and the meter).
        with anyio.CancelScope(shield=True):
            await aclose(frames)
            await aclose(events)


class GuardedStreamingResponse(StreamingResponse):
    """A streaming response that always closes its body iterator, so the provider stops on disconnect."""

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await aclose(self.body_iterator)


async def aclose(stream: AsyncIterator[Any]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
