"""Trainium vs GPU for one model and workload, and whether the catalog backs Amazon's claim.

The claim checked: Trainium2 offers 30–40% better price-performance than current GPU-powered
instances (Amazon's shareholder letter published April 2025). "Price-performance" here is
output tokens per dollar, i.e. the inverse of $/1M output tokens, from the planner's decode model
(each instance in its best tensor-parallel layout, realistic efficiency unless asked for the
ceiling) and the catalog's on-demand prices. It is judged with each instance filled to the most
sequences it holds at the workload's context (how vendors quote price-performance) and reported
at the requested concurrency too, where a big instance that the workload leaves mostly idle
looks worse. The verdict is on the workload's price basis (the CLI uses EC2 list prices: the
claim is about instances, and Trn2's SageMaker rate is an estimate); the other basis is reported
alongside.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from infrastructure.catalog import PRICE_BASES, InstanceType, instance_types
from infrastructure.planner.memory import MEMORY_RESERVE
from infrastructure.planner.models import ModelSpec
from infrastructure.planner.sizing import (
    InstancePlan,
    Workload,
    check_context,
    plan_at_saturation,
    plan_instance,
)

CLAIM = (
    "Trainium2 gives 30-40% better price-performance than current GPU-powered instances "
    "(Amazon shareholder letter, published April 2025)"
)
CLAIM_RANGE = (0.30, 0.40)
# "Current" GPU instances when Trn2 became generally available (Dec 2024): H100 (p5) for
# large models, L40S (g6e) as the current inference-class GPU.
CURRENT_GPU_PREFIXES = ("ml.p5.", "ml.g6e.")
TRAINIUM2_PREFIX = "ml.trn2."


@dataclass(frozen=True)
class Row:
    """One instance: at the requested workload and filled to capacity."""

    workload: InstancePlan
    saturated: InstancePlan

    def to_dict(self) -> dict[str, Any]:
        return {"at_workload": self.workload.to_dict(), "at_saturation": self.saturated.to_dict()}


@dataclass(frozen=True)
class Advantage:
    """Trainium2's extra output tokens per dollar over the best current GPU (+0.35 = 35% more)."""

    at_saturation: float | None
    at_workload: float | None
    best_trainium2: str | None
    best_current_gpu: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "advantage_at_saturation": _round(self.at_saturation),
            "advantage_at_workload": _round(self.at_workload),
            "best_trainium2": self.best_trainium2,
            "best_current_gpu": self.best_current_gpu,
        }


@dataclass(frozen=True)
class Comparison:
    model: ModelSpec
    workload: Workload
    trainium: list[Row]
    gpu: list[Row]
    verdict: str
    advantage: Advantage  # on the workload's price basis
    by_basis: dict[str, Advantage] = field(default_factory=dict)  # every price basis
    assumptions: dict[str, Any] = field(default_factory=dict)

    @property
    def advantage_at_saturation(self) -> float | None:
        return self.advantage.at_saturation

    @property
    def advantage_at_workload(self) -> float | None:
        return self.advantage.at_workload

    @property
    def best_trainium2(self) -> str | None:
        return self.advantage.best_trainium2

    @property
    def best_current_gpu(self) -> str | None:
        return self.advantage.best_current_gpu

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "workload": {
                "context_tokens": self.workload.context_tokens,
                "concurrency": self.workload.concurrency,
                "quant": self.workload.quant,
                "kv_dtype": self.workload.kv_dtype,
                "efficiency": self.workload.efficiency_mode,
            },
            "price_basis": self.workload.price_basis,
            "claim": CLAIM,
            "verdict": self.verdict,
            **self.advantage.to_dict(),
            "by_price_basis": {basis: adv.to_dict() for basis, adv in self.by_basis.items()},
            "assumptions": self.assumptions,
            "trainium": [r.to_dict() for r in self.trainium],
            "gpu": [r.to_dict() for r in self.gpu],
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _cheapest(rows: list[Row], prefixes: tuple[str, ...], at: str) -> InstancePlan | None:
    plans = [getattr(r, at) for r in rows if r.workload.instance.name.startswith(prefixes)]
    plans = [p for p in plans if p.fits and p.usd_per_million_output_tokens]
    return min(plans, key=lambda p: p.usd_per_million_output_tokens, default=None)


def _ratio(trn: InstancePlan | None, gpu: InstancePlan | None) -> float | None:
    if trn is None or gpu is None:
        return None
    return gpu.usd_per_million_output_tokens / trn.usd_per_million_output_tokens - 1


def _advantage(rows: list[Row]) -> Advantage:
    trn2_sat = _cheapest(rows, (TRAINIUM2_PREFIX,), "saturated")
    gpu_sat = _cheapest(rows, CURRENT_GPU_PREFIXES, "saturated")
    trn2_wl = _cheapest(rows, (TRAINIUM2_PREFIX,), "workload")
    gpu_wl = _cheapest(rows, CURRENT_GPU_PREFIXES, "workload")
    return Advantage(
        at_saturation=_ratio(trn2_sat, gpu_sat),
        at_workload=_ratio(trn2_wl, gpu_wl),
        best_trainium2=trn2_sat.instance.name if trn2_sat else None,
        best_current_gpu=gpu_sat.instance.name if gpu_sat else None,
    )


def judge(advantage: float | None) -> str:
    """One sentence on whether an advantage supports the 30–40% claim."""
    if advantage is None:
        return "cannot judge: Trainium2 or a current GPU instance cannot hold this workload"
    low, high = CLAIM_RANGE
    pct = f"{abs(advantage):.0%}"
    if advantage > high:
        return f"supported and exceeded: Trainium2 gives {pct} more output tokens per dollar (claim: 30-40%)"
    if advantage >= low:
        return f"supported: Trainium2 gives {pct} more output tokens per dollar, within the claimed 30-40%"
    if advantage > 0:
        return f"not supported: Trainium2 gives only {pct} more output tokens per dollar (claim: 30-40%)"
    return f"contradicted: Trainium2 gives {pct} fewer output tokens per dollar than the best current GPU"


def _assumptions(rows: list[Row], workload: Workload) -> dict[str, Any]:
    plans = [r.workload for r in rows]
    return {
        "performance_model": (
            "decode step = bytes read (weights + every sequence's KV cache at full context) / (memory "
            "bandwidth x efficiency), at least the dense-BF16 compute time, plus two all-reduces per layer "
            "for tp > 1; best tensor-parallel layout per instance; prefill not modelled"
        ),
        "efficiency": workload.efficiency_mode,
        "efficiency_by_accelerator": {
            p.instance.accelerator.name: {"value": p.efficiency.value, "source": p.efficiency.source}
            for p in plans
        },
        "collective_latency_us": {
            p.instance.interconnect.name: round(p.collective.value * 1e6, 1) for p in plans
        },
        "busy_hours": "instance busy 100% of billed hours",
        "memory_reserve": MEMORY_RESERVE,
        "tensor_parallelism": (
            "over GPUs, or over NeuronCores (logical cores at LNC=2 on Trn2); several copies per instance "
            "where that is cheaper per token; KV heads are replicated when tp exceeds the model's KV heads"
        ),
        "current_gpu_instances": "p5 (8x H100) and g6e (L40S), the GPU generation current at Trn2's launch",
        "price_basis": workload.price_basis,
        "prices": {
            p.instance.name: {
                "usd_per_hour": p.price.usd_per_hour,
                "source": p.price.source,
                "as_of": p.price.as_of,
                "estimated": p.price.estimated,
            }
            for p in plans
        },
    }


def _rows(model: ModelSpec, workload: Workload, pool: tuple[InstanceType, ...]) -> list[Row]:
    return [
        Row(plan_instance(model, workload, inst), plan_at_saturation(model, workload, inst))
        for inst in pool
        if inst.family in ("trainium", "nvidia")
    ]


def compare(
    model: ModelSpec, workload: Workload, instances: Iterable[InstanceType] | None = None
) -> Comparison:
    """Plan Trainium and GPU instances side by side and judge the Trainium2 claim."""
    check_context(model, workload)
    pool = tuple(instances) if instances is not None else instance_types()
    rows = _rows(model, workload, pool)
    by_basis = {workload.price_basis: _advantage(rows)}
    for basis in PRICE_BASES:
        if basis not in by_basis:
            by_basis[basis] = _advantage(_rows(model, replace(workload, price_basis=basis), pool))
    advantage = by_basis[workload.price_basis]
    return Comparison(
        model=model,
        workload=workload,
        trainium=[r for r in rows if r.workload.instance.family == "trainium"],
        gpu=[r for r in rows if r.workload.instance.family == "nvidia"],
        verdict=judge(advantage.at_saturation),
        advantage=advantage,
        by_basis=by_basis,
        assumptions=_assumptions(rows, workload),
    )
