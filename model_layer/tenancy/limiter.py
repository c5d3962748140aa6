"""Admission control: per-tenant and per-model rate limits with worst-case reservations, and budgets.

:class:`RateLimiter` implements the service's ``Limiter``. A tenant's limits come with its
credentials (``Tenant.policy``, cached from the state store; ``strata tenants set`` or the admin
API change them); where it has none, the gateway's defaults apply (``[quotas]`` in strata.toml,
``STRATA_DEFAULT_*_PER_MINUTE``), and a model's own ``requests_per_minute`` /
``tokens_per_minute`` in strata.toml bound every tenant on that model unless the tenant has a
limit of its own for it.

Admission reserves the call's worst case (estimated prompt tokens + ``maxTokens``) in every
bucket that applies; :meth:`RateLimiter.settle` corrects it with what the call really used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from model_layer.errors import ThrottlingException
from model_layer.tenancy.buckets import BucketStore, Limits, Scope
from model_layer.tenancy.budgets import BudgetGuard
from model_layer.tenancy.metrics import GatewayMetrics
from model_layer.types import Tenant


@dataclass(frozen=True)
class Admission:
    """What an admitted call holds until it is settled."""

    scopes: tuple[Scope, ...] = ()
    reserved_tokens: int = 0


NOTHING_RESERVED = Admission()


def _message(limit: str, scope: Scope) -> str:
    if limit == "tokens":
        return (
            "Too many tokens, please wait before trying again "
            f"(limit {scope.limits.tokens_per_minute} tokens/min)."
        )
    return (
        f"Too many requests, please wait before trying again "
        f"(limit {scope.limits.requests_per_minute} requests/min)."
    )


class RateLimiter:
    """Implements ``model_layer.service.Limiter``."""

    def __init__(
        self,
        store: BucketStore,
        defaults: Limits | None = None,
        model_defaults: Mapping[str, Limits] | None = None,
        metrics: GatewayMetrics | None = None,
        budgets: BudgetGuard | None = None,
    ):
        self.store = store
        self.defaults = defaults or Limits()
        self.model_defaults = dict(model_defaults or {})
        self._metrics = metrics
        self.budgets = budgets

    def scopes(self, tenant: Tenant, model_id: str) -> list[Scope]:
        policy = tenant.policy
        limits = Limits(
            requests_per_minute=policy.requests_per_minute or self.defaults.requests_per_minute,
            tokens_per_minute=policy.tokens_per_minute or self.defaults.tokens_per_minute,
        )
        scopes = [] if limits.unlimited else [Scope(tenant.tenant_id, limits)]
        own = next((Limits(r, t) for m, r, t in policy.model_limits if m == model_id), None)
        per_model = own or self.model_defaults.get(model_id)
        if per_model is not None and not per_model.unlimited:
            scopes.append(Scope(f"{tenant.tenant_id}|{model_id}", per_model))
        return scopes

    async def admit(self, tenant: Tenant, model_id: str, worst_case_tokens: int) -> Admission:
        """Admit or raise ``ThrottlingException`` (429, retryable, with ``x-amz-retry-after``) or,
        over a budget, ``ServiceQuotaExceededException``."""
        if self.budgets is not None:
            await self.budgets.check(tenant)
        scopes = self.scopes(tenant, model_id)
        if not scopes:
            return NOTHING_RESERVED
        decision = await self.store.reserve(scopes, worst_case_tokens)
        if decision.allowed:
            return Admission(tuple(scopes), worst_case_tokens)
        limit = decision.limit or "requests"
        if self._metrics is not None:
            self._metrics.throttle(tenant.tenant_id, limit)
        refusing = next((s for s in scopes if s.key == decision.scope), scopes[0])
        raise ThrottlingException(_message(limit, refusing), retry_after_s=decision.retry_after_s)

    async def settle(self, admission: Admission, used_tokens: int) -> None:
        """Correct the reservation with the tokens the call really used."""
        if admission.scopes:
            await self.store.settle(admission.scopes, admission.reserved_tokens - used_tokens)

    async def aclose(self) -> None:
        await self.store.aclose()
