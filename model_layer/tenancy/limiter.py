"""Per-tenant rate limiting: the service's ``Limiter`` over a :class:`BucketStore`.

A tenant's limits are its own (``strata keys create --rpm N --tpm N``) or the gateway's defaults
(``STRATA_DEFAULT_REQUESTS_PER_MINUTE`` / ``STRATA_DEFAULT_TOKENS_PER_MINUTE``). They are read
from the key store on each call, so changing them takes effect at once, like revocation.
"""

from __future__ import annotations

from collections.abc import Callable

from model_layer.errors import ThrottlingException
from model_layer.tenancy.buckets import BucketStore, Limits
from model_layer.tenancy.metrics import GatewayMetrics
from model_layer.types import Tenant

LimitsLookup = Callable[[str], Limits]


def _message(limit: str, limits: Limits) -> str:
    if limit == "tokens":
        return (
            f"Too many tokens, please wait before trying again (limit {limits.tokens_per_minute} tokens/min)."
        )
    return (
        f"Too many requests, please wait before trying again "
        f"(limit {limits.requests_per_minute} requests/min)."
    )


class RateLimiter:
    """Implements ``model_layer.service.Limiter``."""

    def __init__(self, store: BucketStore, limits_for: LimitsLookup, metrics: GatewayMetrics | None = None):
        self.store = store
        self._limits_for = limits_for
        self._metrics = metrics

    async def check(self, tenant: Tenant, model_id: str, estimated_tokens: int) -> None:
        """Admit or raise ``ThrottlingException`` (429, retryable, with ``x-amz-retry-after``).

        ``estimated_tokens`` (the request's max_tokens) is not reserved: see
        :mod:`model_layer.tenancy.buckets` for why usage is charged after the call.
        """
        limits = self._limits_for(tenant.tenant_id)
        if limits.unlimited:
            return
        decision = await self.store.acquire(tenant.tenant_id, limits)
        if decision.allowed:
            return
        limit = decision.limit or "requests"
        if self._metrics is not None:
            self._metrics.throttle(tenant.tenant_id, limit)
        raise ThrottlingException(_message(limit, limits), retry_after_s=decision.retry_after_s)

    async def add_tokens(self, tenant: Tenant, model_id: str, tokens: int) -> None:
        limits = self._limits_for(tenant.tenant_id)
        if limits.tokens_per_minute:
            await self.store.consume_tokens(tenant.tenant_id, limits, tokens)

    async def aclose(self) -> None:
        await self.store.aclose()
