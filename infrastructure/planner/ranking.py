"""Ranking instance types by price-performance, and the single recommendation.

Instances that fit come first, cheapest $/1M output tokens first; the rest follow, those that
hold the most sequences first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from infrastructure.catalog import InstanceType, instance_types
from infrastructure.planner.memory import MEMORY_RESERVE, GiB, kv_bytes_per_token, weight_bytes
from infrastructure.planner.models import ModelSpec
from infrastructure.planner.sizing import InstancePlan, Workload, check_context, plan_instance
from strata.errors import StrataError


class CapacityError(StrataError):
    """The model and workload fit on none of the instance types considered."""


def _rank_key(p: InstancePlan) -> tuple:
    if p.fits:
        return (0, p.usd_per_million_output_tokens or math.inf, p.usd_per_hour)
    return (1, -p.max_concurrency, p.usd_per_hour)


def plan(
    model: ModelSpec, workload: Workload, instances: Iterable[InstanceType] | None = None
) -> list[InstancePlan]:
    """Plan ``workload`` on every instance (default: the whole catalog), best first."""
    check_context(model, workload)
    pool = tuple(instances) if instances is not None else instance_types()
    return sorted((plan_instance(model, workload, inst) for inst in pool), key=_rank_key)


def recommend(
    model: ModelSpec, workload: Workload, instances: Iterable[InstanceType] | None = None
) -> InstancePlan:
    """The cheapest instance per output token that fits; CapacityError says what would be needed."""
    ranked = plan(model, workload, instances)
    if ranked and ranked[0].fits:
        return ranked[0]
    raise capacity_error(model, workload, ranked)


def capacity_error(model: ModelSpec, workload: Workload, ranked: list[InstancePlan]) -> CapacityError:
    """Why nothing in ``ranked`` fits, and roughly how much accelerator memory would."""
    weights = weight_bytes(model, workload.quant)
    kv = kv_bytes_per_token(model, workload.kv_dtype) * workload.context_tokens * workload.concurrency
    needed = (weights + kv) / (1 - MEMORY_RESERVE) / GiB
    catalogued = {i.name for i in instance_types()}
    names = [p.instance.name for p in ranked]
    scope = (
        "no catalogued instance"
        if set(names) >= catalogued
        else f"none of the {len(names)} instance type(s) given ({', '.join(names)})"
    )
    largest = max((p.instance for p in ranked), key=lambda i: i.accelerator_memory_gib, default=None)
    biggest = (
        f"; the largest, {largest.name}, has {largest.accelerator_memory_gib:.0f} GiB usable"
        if largest
        else ""
    )
    return CapacityError(
        f"{model.name} ({workload.quant}) with {workload.concurrency} x {workload.context_tokens}-token "
        f"sequences fits on {scope}",
        hint=(
            f"needs about {needed:.0f} GiB of accelerator memory (weights {weights / GiB:.0f} GiB + "
            f"KV cache {kv / GiB:.0f} GiB + {MEMORY_RESERVE:.0%} reserve){biggest}; try a smaller "
            f"--quant, --context or --concurrency"
        ),
    )
