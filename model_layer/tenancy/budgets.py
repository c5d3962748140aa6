"""Spend budgets per tenant per UTC day and month, checked at admission from the metered cost.

A tenant with ``daily_budget_usd`` / ``monthly_budget_usd`` (``strata tenants set``, admin API) is
refused with ``ServiceQuotaExceededException`` once what it has spent in the period reaches the
budget. Spend is the ``spend`` table the usage writer keeps (:mod:`model_layer.state.usage`),
read at most once per ``refresh_s`` per tenant and kept current in between with the cost this
replica meters. Calls already admitted finish, so a tenant can overshoot by what its calls in
flight cost, plus what other replicas metered within ``refresh_s``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from model_layer.errors import ServiceQuotaExceededException
from model_layer.types import Tenant

SpendLookup = Callable[[str, float], "SpendLike"]


class SpendLike:  # the shape of model_layer.state.Spend (tenancy does not import state)
    day_usd: float
    month_usd: float


@dataclass
class _Seen:
    fetched_at: float
    day: str
    month: str
    day_usd: float
    month_usd: float


def _periods(at: float) -> tuple[str, str]:
    when = datetime.fromtimestamp(at, UTC)
    return f"{when:%Y-%m-%d}", f"{when:%Y-%m}"


class BudgetGuard:
    def __init__(
        self,
        spend_lookup: SpendLookup,
        *,
        refresh_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ):
        self._lookup = spend_lookup
        self.refresh_s = refresh_s
        self._clock = clock
        self._seen: dict[str, _Seen] = {}

    async def check(self, tenant: Tenant) -> None:
        policy = tenant.policy
        if policy.daily_budget_usd is None and policy.monthly_budget_usd is None:
            return
        seen = await self._current(tenant.tenant_id)
        for label, budget, spent, resets in (
            ("daily", policy.daily_budget_usd, seen.day_usd, "at 00:00 UTC"),
            ("monthly", policy.monthly_budget_usd, seen.month_usd, "on the 1st at 00:00 UTC"),
        ):
            if budget is not None and spent >= budget:
                raise ServiceQuotaExceededException(
                    f"The {label} budget of tenant {tenant.tenant_id} (${budget:.2f}) is spent "
                    f"(${spent:.4f} metered); it resets {resets}."
                )

    def add(self, tenant_id: str, cost_usd: float, at: float) -> None:
        """Count cost this replica has just metered (so the next check sees it before a refresh)."""
        seen = self._seen.get(tenant_id)
        if seen is not None and (seen.day, seen.month) == _periods(at):
            seen.day_usd += cost_usd
            seen.month_usd += cost_usd

    async def _current(self, tenant_id: str) -> _Seen:
        now = self._clock()
        day, month = _periods(now)
        seen = self._seen.get(tenant_id)
        if seen is None or (seen.day, seen.month) != (day, month) or now - seen.fetched_at >= self.refresh_s:
            spend = await asyncio.to_thread(self._lookup, tenant_id, now)
            seen = _Seen(now, day, month, spend.day_usd, spend.month_usd)
            self._seen[tenant_id] = seen
        return seen
