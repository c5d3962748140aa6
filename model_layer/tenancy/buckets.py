"""Token buckets: the rate-limit state, behind one small interface.

Each limited scope (a tenant; a tenant on one model) has up to two buckets, each refilled
continuously at ``capacity / 60`` per second (a limit *per minute* that allows a burst of one
minute's worth):

* requests: an admitted call takes one request; a call is refused when less than one is left;
* tokens: an admitted call **reserves its worst case** (prompt estimate + ``maxTokens``) and the
  difference to what it really used is settled when it ends (refunded, or taken if it used
  more). A call is admitted only while the bucket holds its whole reservation, or a full
  bucket's worth for a call that may use more than a minute's budget on its own, so concurrent
  calls cannot together overrun the limit.

Admission is all-or-nothing over every bucket that applies (the tenant's and the tenant-model
pair's), so a refusal takes nothing. :class:`InProcessBuckets` serves one gateway process;
:class:`~model_layer.tenancy.redis_buckets.RedisBuckets` shares the same state between replicas
(the same algorithm, in a Lua script).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

LimitName = Literal["requests", "tokens"]


@dataclass(frozen=True)
class Limits:
    """Per-minute limits of one scope; None = unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.requests_per_minute is None and self.tokens_per_minute is None


@dataclass(frozen=True)
class Scope:
    """One set of buckets: ``key`` names it in the store (``acme``, ``acme|model-id``)."""

    key: str
    limits: Limits


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0
    limit: LimitName | None = None  # which limit refused the call
    scope: str | None = None  # which scope's bucket refused it


ALLOWED = Decision(True)
# Float slack, so that a client waiting exactly the advertised retry-after is admitted.
_SLACK = 1e-9


class BucketStore(Protocol):
    async def reserve(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        """Take one request and reserve ``tokens`` in every scope, or nothing and say why."""
        ...

    async def settle(self, scopes: Sequence[Scope], refund: int) -> None:
        """Give ``refund`` tokens back to each scope's bucket (negative: take more; may go into debt)."""
        ...

    async def aclose(self) -> None: ...


def refill(level: float, updated_at: float, now: float, capacity: float) -> float:
    """The bucket level at ``now``: ``capacity`` per minute added since ``updated_at``, capped."""
    return min(capacity, level + max(0.0, now - updated_at) * capacity / 60.0)


def tokens_needed(tokens: int, capacity: float) -> float:
    """What a bucket must hold to admit a call reserving ``tokens`` (at least 1, at most full)."""
    return max(1.0, min(float(tokens), capacity))


def wait_for(level: float, need: float, capacity: float) -> float:
    """Seconds until a bucket at ``level`` holds ``need``."""
    return max(0.0, (need - level) * 60.0 / capacity)


class InProcessBuckets:
    """Buckets in a dict; correct for one process (threads included)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._state: dict[tuple[str, LimitName], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _level(self, key: str, name: LimitName, capacity: int, now: float) -> float:
        level, at = self._state.get((key, name), (float(capacity), now))
        return refill(level, at, now, capacity)

    async def reserve(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        with self._lock:
            now = self._clock()
            takes: list[tuple[str, LimitName, float]] = []
            for scope in scopes:
                rpm, tpm = scope.limits.requests_per_minute, scope.limits.tokens_per_minute
                if tpm:
                    level, need = self._level(scope.key, "tokens", tpm, now), tokens_needed(tokens, tpm)
                    if level < need - _SLACK:
                        return Decision(False, wait_for(level, need, tpm), "tokens", scope.key)
                    takes.append((scope.key, "tokens", level - tokens))
                if rpm:
                    level = self._level(scope.key, "requests", rpm, now)
                    if level < 1.0 - _SLACK:
                        return Decision(False, wait_for(level, 1.0, rpm), "requests", scope.key)
                    takes.append((scope.key, "requests", level - 1))
            for key, name, level in takes:
                self._state[(key, name)] = (level, now)
        return ALLOWED

    async def settle(self, scopes: Sequence[Scope], refund: int) -> None:
        if refund == 0:
            return
        with self._lock:
            now = self._clock()
            for scope in scopes:
                tpm = scope.limits.tokens_per_minute
                if tpm:
                    level = self._level(scope.key, "tokens", tpm, now) + refund
                    self._state[(scope.key, "tokens")] = (min(float(tpm), level), now)

    async def aclose(self) -> None:
        return None
