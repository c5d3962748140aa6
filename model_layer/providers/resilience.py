"""Retries with backoff, per-event timeouts, and the rule that decides when a fallback may run.

The invariant: once one event of a stream has been handed on, nothing is retried or replaced by
another model (the client may already hold a 200 and part of the answer); the error goes to the
client as it is. Before that, retryable errors (Throttling, ServiceUnavailable, InternalServer,
ModelNotReady: ``GatewayError.retryable``) are retried with exponential backoff and full jitter,
raised to the server's ``retry_after_s`` when it gave one.

Every provider's stream passes :func:`stream_with_retries`, so it also holds the one check the
rest of the gateway relies on from any provider (built-in or plug-in): a tool call's input
fragments add up to a JSON object. An upstream that produced anything else ends the stream with
a ``ModelErrorException`` (a 424, metered as a failure), not a 500 when the answer is collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from model_layer.config import RetryConfig
from model_layer.errors import (
    GatewayError,
    ModelErrorException,
    ModelNotReadyException,
    ModelTimeoutException,
)
from model_layer.types import BlockDelta, BlockStart, BlockStop, StreamEvent
from model_layer.wire.json_body import MalformedJSON, parse_json

log = logging.getLogger("strata.gateway.providers")
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class StreamState:
    """Shared by the retry and fallback loops of one request: has anything been sent yet?"""

    sent: bool = False
    attempts: list[str] = field(default_factory=list)  # "model_id: ErrorCode" per failed attempt


@dataclass
class RetryPolicy:
    max_attempts: int = 3
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    sleep: Sleep = asyncio.sleep  # injectable so tests can record delays without waiting
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_config(cls, config: RetryConfig) -> RetryPolicy:
        return cls(config.max_attempts, config.base_delay_s, config.max_delay_s)

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        """Full-jitter exponential backoff for the pause after failed attempt ``attempt`` (1-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        delay = self.rng.uniform(0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_delay_s))
        return delay


def may_fall_back(exc: GatewayError) -> bool:
    """After retries: a model that is overloaded, unready or silent may be replaced by the next."""
    return exc.retryable or isinstance(exc, ModelNotReadyException | ModelTimeoutException)


def as_gateway_error(exc: Exception, provider: str) -> GatewayError:
    """Unexpected provider exceptions become a (non-retryable) ModelErrorException.

    The exception (type, text, traceback) goes to the log; the client's message names only the
    model, since exception text can carry upstream URLs, paths and library internals.
    """
    if isinstance(exc, GatewayError):
        return exc
    log.error("provider %s failed unexpectedly", provider, exc_info=exc)
    return ModelErrorException(f"Model {provider} failed unexpectedly; the gateway's log has details.")


async def with_timeout(
    stream: AsyncIterator[StreamEvent], timeout_s: float, model_id: str
) -> AsyncIterator[StreamEvent]:
    """Bound the wait for the first event and between events (not the consumer's own pauses)."""
    iterator = stream.__aiter__()
    clock = _IdleClock(timeout_s)
    try:
        while True:
            clock.waiting()
            try:
                event = await iterator.__anext__()
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if clock.timed_out():
                    raise ModelTimeoutException(
                        f"Model {model_id} did not respond within {timeout_s:g} s"
                    ) from None
                raise
            finally:
                clock.done()
            yield event
    finally:
        clock.stop()
        # Closing the provider's generator cancels its upstream call (frees the engine slot).
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


class _IdleClock:
    """A timeout on each wait for the next event, with one timer for the whole stream.

    ``asyncio.timeout`` per event re-arms a timer (a heap insert and a cancel) for every event; a
    non-streaming answer passes half a dozen events, so that was ~4% of the gateway's CPU per
    call. Here one timer runs: when it fires it either finds the wait still under its bound and
    re-arms for the rest, or cancels the waiting task, as ``asyncio.timeout`` would; it counts
    like ``asyncio.timeout`` too (``uncancel``), so a cancellation from elsewhere stays one.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.loop = asyncio.get_running_loop()
        self.waiting_since: float | None = None
        self.task: asyncio.Task | None = None
        self.cancelling = 0
        self.expired = False
        self.timer: asyncio.TimerHandle | None = None

    def waiting(self) -> None:
        """A wait for the next event starts (in whichever task iterates the stream now)."""
        self.waiting_since = self.loop.time()
        self.task = asyncio.current_task()
        self.cancelling = self.task.cancelling() if self.task is not None else 0
        if self.timer is None:
            self.timer = self.loop.call_at(self.waiting_since + self.timeout_s, self._fire)

    def _fire(self) -> None:
        self.timer = None
        if self.waiting_since is None or self.task is None:  # the consumer's own pause
            return
        deadline = self.waiting_since + self.timeout_s
        if self.loop.time() < deadline:  # armed during an earlier wait: wait for the rest
            self.timer = self.loop.call_at(deadline, self._fire)
            return
        self.expired = True
        self.task.cancel()

    def timed_out(self) -> bool:
        """After a CancelledError: was it this clock's (and no one else's)?"""
        if not self.expired or self.task is None:
            return False
        self.expired = False
        return self.task.uncancel() <= self.cancelling

    def done(self) -> None:
        """The wait ended. A cancel of ours that the stream swallowed is taken back, as
        ``asyncio.timeout`` does, so the task is not left counting it."""
        self.waiting_since = None
        if self.expired and self.task is not None:
            self.expired = False
            self.task.uncancel()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class ToolInputs:
    """Collects tool-use input fragments per block; each must form a JSON object when it ends."""

    def __init__(self) -> None:
        self._open: dict[int, tuple[str, list[str]]] = {}  # block index -> (tool name, fragments)

    def see(self, event: StreamEvent) -> None:
        if isinstance(event, BlockStart) and event.tool_use is not None:
            self._open[event.index] = (event.tool_use.name, [])
        elif isinstance(event, BlockDelta) and event.tool_input is not None and event.index in self._open:
            self._open[event.index][1].append(event.tool_input)
        elif isinstance(event, BlockStop) and event.index in self._open:
            _check_tool_input(*self._open.pop(event.index))

    def finish(self) -> None:
        """At the end of the stream: blocks a provider never closed are checked too."""
        for name, fragments in self._open.values():
            _check_tool_input(name, fragments)
        self._open.clear()


def _check_tool_input(name: str, fragments: list[str]) -> None:
    raw = "".join(fragments)
    try:
        value = parse_json(raw) if raw.strip() else {}
    except MalformedJSON:
        value = None
    if not isinstance(value, dict):
        raise ModelErrorException(
            f"The model called tool '{name[:64]}' with input that is not a JSON object; "
            "the answer was discarded."
        )


async def stream_with_retries(
    open_stream: Callable[[], AsyncIterator[StreamEvent]],
    policy: RetryPolicy,
    state: StreamState,
    label: str,
) -> AsyncIterator[StreamEvent]:
    """Run ``open_stream()`` until it completes; retry only while nothing has been sent."""
    for attempt in range(1, policy.max_attempts + 1):
        tool_inputs = ToolInputs()
        try:
            stream = open_stream()
            async with contextlib.aclosing(stream):
                async for event in stream:
                    tool_inputs.see(event)
                    state.sent = True
                    yield event
            tool_inputs.finish()
            return
        except Exception as raw:
            exc = as_gateway_error(raw, label)
            state.attempts.append(f"{label}: {exc.code}")
            if state.sent or not exc.retryable or attempt == policy.max_attempts:
                raise exc from None
            pause = policy.delay(attempt, exc.retry_after_s)
            log.info("retrying %s after %s (attempt %d, %.2fs)", label, exc.code, attempt, pause)
            await policy.sleep(pause)


async def call_with_retries(
    call: Callable[[], Awaitable[T]], policy: RetryPolicy, timeout_s: float, label: str
) -> T:
    """The same policy for one-shot calls (embeddings)."""
    for attempt in range(1, policy.max_attempts + 1):
        try:
            async with asyncio.timeout(timeout_s):  # see with_timeout for why not wait_for
                return await call()
        except TimeoutError:
            raise ModelTimeoutException(f"Model {label} did not respond within {timeout_s:g} s") from None
        except Exception as raw:
            exc = as_gateway_error(raw, label)
            if not exc.retryable or attempt == policy.max_attempts:
                raise exc from None
            await policy.sleep(policy.delay(attempt, exc.retry_after_s))
    raise AssertionError("unreachable")  # pragma: no cover
