"""Token buckets per tenant: the rate-limit state, behind one small interface.

Two buckets per tenant, each refilled continuously at ``capacity / 60`` per second (a limit *per
minute* that allows a burst of one minute's worth):

* requests: a call takes one request; it is rejected when less than one is left;
* tokens: a call is admitted while the bucket holds at least one token, and its *actual* usage is
  taken afterwards (:meth:`BucketStore.consume_tokens`), possibly into debt. Usage is only known
  once a call ends, and the service reports it without a handle to reconcile a reservation, so a
  tenant that overspends waits until the debt is repaid instead of being charged up front.

:class:`InProcessBuckets` serves one gateway process; :class:`~model_layer.tenancy.redis_buckets.
RedisBuckets` shares the same state between replicas (same algorithm, in a Lua script).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

LimitName = Literal["requests", "tokens"]


@dataclass(frozen=True)
class Limits:
    """Per-minute limits of one tenant; None = unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.requests_per_minute is None and self.tokens_per_minute is None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0
    limit: LimitName | None = None  # which limit refused the call


ALLOWED = Decision(True)
# Float slack, so that a client waiting exactly the advertised retry-after is admitted.
_NEED = 1.0 - 1e-9


class BucketStore(Protocol):
    async def acquire(self, key: str, limits: Limits) -> Decision:
        """Take one request if both buckets allow it; otherwise say which limit and how long to wait."""
        ...

    async def consume_tokens(self, key: str, limits: Limits, tokens: int) -> None:
        """Take ``tokens`` from the token bucket (it may go negative)."""
        ...

    async def aclose(self) -> None: ...


def refill(level: float, updated_at: float, now: float, capacity: float) -> float:
    """The bucket level at ``now``: ``capacity`` per minute added since ``updated_at``, capped."""
    return min(capacity, level + max(0.0, now - updated_at) * capacity / 60.0)


def wait_for_one(level: float, capacity: float) -> float:
    """Seconds until a bucket at ``level`` holds one unit again."""
    return max(0.0, (1.0 - level) * 60.0 / capacity)


class InProcessBuckets:
    """Buckets in a dict; correct for one process (threads included)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._state: dict[tuple[str, LimitName], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _level(self, key: str, name: LimitName, capacity: int, now: float) -> float:
        level, at = self._state.get((key, name), (float(capacity), now))
        return refill(level, at, now, capacity)

    async def acquire(self, key: str, limits: Limits) -> Decision:
        rpm, tpm = limits.requests_per_minute, limits.tokens_per_minute
        with self._lock:
            now = self._clock()
            if tpm:
                tokens = self._level(key, "tokens", tpm, now)
                if tokens < _NEED:
                    return Decision(False, wait_for_one(tokens, tpm), "tokens")
            if rpm:
                requests = self._level(key, "requests", rpm, now)
                if requests < _NEED:
                    return Decision(False, wait_for_one(requests, rpm), "requests")
                self._state[(key, "requests")] = (requests - 1, now)
        return ALLOWED

    async def consume_tokens(self, key: str, limits: Limits, tokens: int) -> None:
        tpm = limits.tokens_per_minute
        if not tpm or tokens <= 0:
            return
        with self._lock:
            now = self._clock()
            self._state[(key, "tokens")] = (self._level(key, "tokens", tpm, now) - tokens, now)

    async def aclose(self) -> None:
        return None
