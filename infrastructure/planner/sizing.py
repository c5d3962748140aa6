"""Memory fit, layout (tensor-parallel degree × copies) and decode throughput of a model on an instance.

The method, stated once (the CLI prints it next to every figure):

* **Weights**: 16-bit = parameters × 2 bytes. Quantised (fp8, int8, int4) checkpoints keep the
  embeddings and output projection in 16-bit; int4 adds a 16-bit scale and 4-bit zero per 128
  weights (see :mod:`.memory`). MoE models keep every expert in memory.
* **KV cache** per token = 2 (K and V) × layers × KV heads × head dim × KV dtype bytes; each
  sequence is charged its full ``context_tokens``. When the tensor-parallel degree exceeds the
  KV heads, each shard still holds a whole head, so the cache is replicated by
  ``ceil(kv_heads / tp) · tp / kv_heads``.
* **Memory**: what the accelerator exposes (ECC GPUs less than the nameplate), less a 10%
  reserve for activations, runtime buffers, compiled graphs and fragmentation.
* **Layout**: a *copy* of the model is sharded over ``tp`` devices (GPUs, or NeuronCores on
  Trainium/Inferentia); an instance runs as many copies as fit on whole devices (a Neuron copy
  that shares its instance takes whole chips, as SageMaker places inference components on whole
  accelerators), and the requested sequences are spread evenly over the copies. Every valid
  degree in the instance's ``tp_degrees`` is tried; the plan keeps the layout with the most
  output tokens per second (the lowest $/1M tokens) that holds the workload.
* **Decode step** of one copy with ``b`` sequences = the larger of (bytes read ÷ the copy's
  memory bandwidth × efficiency) and (2 FLOPs × active parameters × b ÷ peak dense BF16), plus,
  for tp > 1, two all-reduces per layer: each a calibrated latency plus
  ``2(tp-1)/tp × b × hidden × 2 bytes`` over the interconnect. Bytes read = the weights (less an
  untied input embedding; MoE: the shared weights plus the experts at least one of the ``b``
  tokens routes to) + each sequence's KV cache at full context. Efficiency and latency are
  published-measurement calibrations (:mod:`.efficiency`); ``--ceiling`` uses 1 and 0.
* **$/1M output tokens** = $/hour on the chosen price basis (SageMaker hosting by default, or
  EC2) ÷ (aggregate decode tokens/s × 3600) × 10⁶, the instance busy all billed hours. Prefill is
  not modelled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infrastructure.catalog import PRICE_BASES, InstanceType, Price, PriceBasis
from infrastructure.planner import efficiency as eff
from infrastructure.planner.memory import (
    KV_DTYPE_BYTES,
    MEMORY_RESERVE,
    QUANT_BYTES,
    GiB,
    check_quant,
    kv_bytes_per_token,
    kv_replication,
    weight_bytes,
    weight_bytes_read_per_step,
)
from infrastructure.planner.models import ModelSpec
from strata.errors import ConfigurationError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_CONTEXT_TOKENS",
    "KV_DTYPE_BYTES", "MEMORY_RESERVE", "QUANT_BYTES", "GiB", "InstancePlan", "Workload", "check_context",
    "kv_bytes_per_token", "kv_replication", "plan_at_saturation", "plan_instance", "weight_bytes",
    "weight_bytes_read_per_step",
]  # fmt: skip


# What `strata plan` and `strata provision` size for when not told otherwise (one source for both).
DEFAULT_CONTEXT_TOKENS = 8192
DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class Workload:
    """What is to be served, and the assumptions the figures are computed under."""

    context_tokens: int
    concurrency: int
    quant: str = "bf16"
    kv_dtype: str = "bf16"
    bandwidth_utilisation: float | None = None  # None: the calibrated factor per accelerator
    ceiling: bool = False  # hardware limits only: efficiency 1, no collective latency
    price_basis: PriceBasis = "sagemaker"

    def __post_init__(self) -> None:
        check_quant(self.quant)
        if self.kv_dtype not in KV_DTYPE_BYTES:
            raise ConfigurationError(
                f"unknown KV cache dtype {self.kv_dtype!r}",
                hint=f"choose one of: {', '.join(KV_DTYPE_BYTES)}",
            )
        if self.context_tokens < 1 or self.concurrency < 1:
            raise ConfigurationError("context and concurrency must be at least 1")
        if self.bandwidth_utilisation is not None and not 0 < self.bandwidth_utilisation <= 1:
            raise ConfigurationError("bandwidth utilisation must be in (0, 1]")
        if self.ceiling and self.bandwidth_utilisation is not None:
            raise ConfigurationError("give --ceiling or --utilisation, not both")
        if self.price_basis not in PRICE_BASES:
            raise ConfigurationError(f"unknown price basis {self.price_basis!r}", hint="sagemaker or ec2")

    @property
    def efficiency_mode(self) -> str:
        if self.ceiling:
            return "ceiling"
        return "realistic" if self.bandwidth_utilisation is None else "user"


@dataclass(frozen=True)
class InstancePlan:
    """The planner's verdict for one instance type (see the module doc for the method)."""

    instance: InstanceType
    fits: bool
    tp_degree: int | None
    replicas: int  # model copies per instance
    concurrency: int  # sequences the figures below are computed for (requested, or what fits)
    max_concurrency: int
    weights_gib: float
    kv_cache_gib: float  # KV cache of those sequences at full context (incl. replication)
    memory_usable_gib: float  # per copy, after the reserve
    decode_tps_per_seq: float
    decode_tps_aggregate: float
    price: Price
    price_basis: PriceBasis
    usd_per_million_output_tokens: float | None
    reason: str
    efficiency: eff.Factor
    collective: eff.Factor
    bound: str = "bandwidth"  # what binds a step: "bandwidth" or "compute"
    comm_ms_per_step: float = 0.0
    devices_per_copy: int = 0  # SageMaker accelerator devices a copy occupies (GPUs or Neuron chips)
    alternatives: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    @property
    def usd_per_hour(self) -> float:
        return self.price.usd_per_hour

    @property
    def copies(self) -> int:
        return self.replicas

    def to_dict(self) -> dict[str, Any]:
        inst = self.instance
        return {
            "instance": inst.name,
            "family": inst.family,
            "accelerator": f"{inst.accelerator_count}x {inst.accelerator.name}",
            "accelerator_memory_gib": round(inst.accelerator_memory_gib, 3),
            "memory_bandwidth_gbps": inst.memory_bandwidth_gbps,
            "interconnect": inst.interconnect.name,
            "fits": self.fits,
            "tp_degree": self.tp_degree,
            "replicas": self.replicas,
            "copies": self.replicas,
            "devices_per_copy": self.devices_per_copy,
            "concurrency": self.concurrency,
            "max_concurrency": self.max_concurrency,
            "weights_gib": round(self.weights_gib, 3),
            "kv_cache_gib": round(self.kv_cache_gib, 3),
            "memory_usable_gib": round(self.memory_usable_gib, 3),
            "decode_tps_per_seq": round(self.decode_tps_per_seq, 2),
            "decode_tps_aggregate": round(self.decode_tps_aggregate, 2),
            "bound": self.bound,
            "comm_ms_per_step": round(self.comm_ms_per_step, 3),
            "efficiency": self.efficiency.value,
            "efficiency_source": self.efficiency.source,
            "efficiency_estimated": self.efficiency.estimated,
            "collective_latency_us": round(self.collective.value * 1e6, 1),
            "collective_latency_source": self.collective.source,
            "price_basis": self.price_basis,
            "usd_per_hour": self.usd_per_hour,
            "price_source": self.price.source,
            "price_as_of": self.price.as_of,
            "price_estimated": self.price.estimated,
            "sagemaker_usd_per_hour": inst.sagemaker_price.usd_per_hour,
            "ec2_usd_per_hour": inst.ec2_price.usd_per_hour,
            "usd_per_million_output_tokens": _round(self.usd_per_million_output_tokens, 4),
            "reason": self.reason,
            "alternatives": list(self.alternatives),
        }


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


@dataclass(frozen=True)
class _Units:
    """The devices tensor parallelism spans (GPUs, or NeuronCores on Neuron instances)."""

    count: int
    per_chip: int  # NeuronCores per chip (1 for GPUs)
    memory_bytes: float  # usable
    bandwidth_bytes_s: float
    flops: float
    link_bytes_s: float  # interconnect bandwidth per unit, per direction
    neuron: bool


def _units(instance: InstanceType) -> _Units:
    acc = instance.accelerator
    per_chip = acc.neuron_cores or 1
    return _Units(
        count=instance.accelerator_count * per_chip,
        per_chip=per_chip,
        memory_bytes=acc.usable_gib * GiB / per_chip,
        bandwidth_bytes_s=acc.memory_bandwidth_gbps * 1e9 / per_chip,
        flops=acc.dense_bf16_tflops * 1e12 / per_chip,
        link_bytes_s=instance.interconnect.gbps_per_device * 1e9 / per_chip,
        neuron=bool(acc.neuron_cores),
    )


@dataclass(frozen=True)
class _Layout:
    tp: int
    copies: int
    devices_per_copy: int  # GPUs, or whole Neuron chips
    usable_bytes: float  # per copy, after the reserve
    per_copy: int  # sequences one copy holds at full context

    @property
    def capacity(self) -> int:
        return self.copies * self.per_copy

    def holds(self, sequences: int) -> bool:
        return self.per_copy >= math.ceil(sequences / self.copies)


class _Sizer:
    """One model and workload on one instance: candidate layouts and their throughput."""

    def __init__(self, model: ModelSpec, wl: Workload, instance: InstanceType) -> None:
        self.model, self.wl, self.instance = model, wl, instance
        self.units = _units(instance)
        self.kv_token = kv_bytes_per_token(model, wl.kv_dtype)
        self.weights = weight_bytes(model, wl.quant)
        if wl.ceiling:
            self.efficiency, self.collective = eff.CEILING, eff.NO_LATENCY
        else:
            self.efficiency = (
                eff.decode_efficiency(instance.accelerator)
                if wl.bandwidth_utilisation is None
                else eff.user_efficiency(wl.bandwidth_utilisation)
            )
            self.collective = eff.collective_latency(instance.interconnect)

    def degrees(self) -> list[int]:
        out = []
        for tp in sorted(self.instance.tp_degrees):
            if tp > self.units.count:
                continue
            # GPU engines (vLLM, TGI, TensorRT-LLM) shard attention heads evenly; Neuron pads them.
            heads = self.model.num_attention_heads
            if not self.units.neuron and heads and heads % tp:
                continue
            out.append(tp)
        return out

    def layout(self, tp: int) -> _Layout:
        u = self.units
        devices = math.ceil(tp / u.per_chip)  # whole chips on Neuron, GPUs otherwise
        copies = (u.count // u.per_chip) // devices
        usable = tp * u.memory_bytes * (1 - MEMORY_RESERVE)
        kv_seq = self.kv_token * self.wl.context_tokens * kv_replication(self.model, tp)
        free = usable - self.weights
        return _Layout(tp, copies, devices, usable, max(0, math.floor(free / kv_seq)) if free > 0 else 0)

    def step(self, tp: int, batch: int) -> tuple[float, str, float]:
        """(seconds per decode step of one copy with ``batch`` sequences, binding limit, comm seconds)."""
        m, u, wl = self.model, self.units, self.wl
        kv_seq = self.kv_token * wl.context_tokens * kv_replication(m, tp)
        step_bytes = weight_bytes_read_per_step(m, wl.quant, batch) + batch * kv_seq
        t_mem = step_bytes / (tp * u.bandwidth_bytes_s * self.efficiency.value)
        t_compute = batch * 2 * m.active_params / (tp * u.flops) if u.flops else 0.0
        comm = 0.0
        if tp > 1:
            message = batch * m.width * 2.0  # one 16-bit activation vector per sequence
            per_allreduce = self.collective.value + 2 * (tp - 1) / tp * message / u.link_bytes_s
            comm = 2 * m.layers * per_allreduce
        bound = "compute" if t_compute > t_mem else "bandwidth"
        return max(t_mem, t_compute) + comm, bound, comm

    def evaluate(self, lay: _Layout, served: int) -> dict[str, Any]:
        """Throughput and cost with ``served`` sequences spread evenly over the copies."""
        q, r = divmod(served, lay.copies)
        loads = [q + 1] * r + [q] * (lay.copies - r)
        aggregate = sum(b / self.step(lay.tp, b)[0] for b in loads if b)
        busiest = loads[0]
        step_s, bound, comm = self.step(lay.tp, busiest) if busiest else (0.0, "bandwidth", 0.0)
        price = self.instance.price(self.wl.price_basis)
        usd_m = price.usd_per_hour / (aggregate * 3600) * 1e6 if aggregate > 0 else None
        kv = self.kv_token * self.wl.context_tokens * served * kv_replication(self.model, lay.tp)
        return dict(
            tp_degree=lay.tp, replicas=lay.copies, devices_per_copy=lay.devices_per_copy, concurrency=served,
            decode_tps_per_seq=1 / step_s if step_s else 0.0, decode_tps_aggregate=aggregate,
            usd_per_million_output_tokens=usd_m, bound=bound, comm_ms_per_step=comm * 1e3,
            memory_usable_gib=lay.usable_bytes / GiB, max_concurrency=lay.capacity, kv_cache_gib=kv / GiB,
        )  # fmt: skip

    def plan(
        self, candidates: list[_Layout], served: Callable[[_Layout], int], fits: bool,
        reason: Callable[[_Layout, dict[str, Any]], str], survey: tuple[dict[str, Any], ...] = (),
    ) -> InstancePlan:  # fmt: skip
        """The best of ``candidates`` (most tokens/s), each evaluated at ``served(layout)`` sequences."""
        rows = [(lay, self.evaluate(lay, served(lay))) for lay in candidates]
        best_lay, best = max(rows, key=lambda row: (row[1]["decode_tps_aggregate"], -row[0].tp))
        return InstancePlan(**self._base(), **best, fits=fits, reason=reason(best_lay, best),
                            alternatives=survey)  # fmt: skip

    def survey(self, layouts: list[_Layout], wanted: int) -> tuple[dict[str, Any], ...]:
        """Every layout tried: the requested sequences where they fit, else as many as it holds."""
        out = []
        for lay in layouts:
            fits = lay.holds(wanted)
            row = self.evaluate(lay, wanted if fits else lay.capacity) if lay.capacity else None
            usd_m = row["usd_per_million_output_tokens"] if row else None
            out.append({
                "tp_degree": lay.tp, "copies": lay.copies, "max_concurrency": lay.capacity, "fits": fits,
                "decode_tps_aggregate": round(row["decode_tps_aggregate"], 2) if row else 0.0,
                "usd_per_million_output_tokens": _round(usd_m, 4),
            })  # fmt: skip
        return tuple(out)

    def _base(self) -> dict[str, Any]:
        return dict(
            instance=self.instance, weights_gib=self.weights / GiB, efficiency=self.efficiency,
            collective=self.collective, price=self.instance.price(self.wl.price_basis),
            price_basis=self.wl.price_basis,
        )  # fmt: skip

    def no_fit(
        self, reason: str, usable_gib: float = 0.0, survey: tuple[dict[str, Any], ...] = ()
    ) -> InstancePlan:
        fields = dict(
            fits=False, tp_degree=None, replicas=0, concurrency=0, max_concurrency=0, kv_cache_gib=0.0,
            memory_usable_gib=usable_gib, decode_tps_per_seq=0.0, decode_tps_aggregate=0.0,
            usd_per_million_output_tokens=None,
        )  # fmt: skip
        return InstancePlan(**self._base(), **fields, reason=reason, alternatives=survey)


def check_context(model: ModelSpec, workload: Workload) -> None:
    if workload.context_tokens > model.max_context:
        raise ConfigurationError(
            f"context {workload.context_tokens} exceeds {model.name}'s maximum of {model.max_context} tokens"
        )


def _copies(n: int) -> str:
    return f"{n} cop{'y' if n == 1 else 'ies'}"


def plan_instance(
    model: ModelSpec, workload: Workload, instance: InstanceType, tp: int | None = None
) -> InstancePlan:
    """Fit, layout, decode throughput and cost of ``workload`` on one instance (``tp`` fixes the degree)."""
    check_context(model, workload)
    sizer = _Sizer(model, workload, instance)
    degrees = sizer.degrees()
    if tp is not None:
        if tp not in degrees:
            raise ConfigurationError(
                f"tensor-parallel degree {tp} is not possible for {model.name} on {instance.name}",
                hint=f"use one of: {', '.join(map(str, degrees)) or 'none'}",
            )
        degrees = [tp]
    if not degrees:
        return sizer.no_fit(
            f"no tensor-parallel degree in {instance.tp_degrees} divides {model.num_attention_heads} "
            "attention heads"
        )
    layouts = [sizer.layout(d) for d in degrees]
    want, ctx, w_gib = workload.concurrency, workload.context_tokens, sizer.weights / GiB
    survey = sizer.survey(layouts, want)

    def fitted(lay: _Layout, row: dict[str, Any]) -> str:
        return (
            f"tp={lay.tp} x {_copies(lay.copies)}; weights {w_gib:.1f} GiB + KV "
            f"{row['kv_cache_gib']:.1f} GiB for {want} x {ctx} tokens"
        )

    fitting = [lay for lay in layouts if lay.holds(want)]
    if fitting:
        return sizer.plan(fitting, lambda _: want, True, fitted, survey)
    most = max(lay.capacity for lay in layouts)
    if most == 0:
        largest = max(layouts, key=lambda lay: lay.tp)
        kv_one = sizer.kv_token * ctx * kv_replication(model, largest.tp) / GiB
        return sizer.no_fit(
            f"weights {w_gib:.1f} GiB + one sequence's KV ({kv_one:.1f} GiB) exceed "
            f"{largest.usable_bytes / GiB:.1f} GiB usable per copy at the largest tp={largest.tp}",
            largest.usable_bytes / GiB,
            survey,
        )

    def partial(lay: _Layout, _: dict[str, Any]) -> str:
        return (
            f"only {most} of {want} sequences x {ctx} tokens fit (tp={lay.tp} x {_copies(lay.copies)}, "
            f"{lay.usable_bytes / GiB:.1f} GiB usable per copy)"
        )

    best = [lay for lay in layouts if lay.capacity == most]
    return sizer.plan(best, lambda lay: lay.capacity, False, partial, survey)


def plan_at_saturation(model: ModelSpec, workload: Workload, instance: InstanceType) -> InstancePlan:
    """The instance filled to the most sequences each layout holds; the layout with the best $/1M tokens.

    This is the price-performance an operator gets when traffic keeps the instance full — the
    basis on which vendors quote price-performance.
    """
    check_context(model, workload)
    sizer = _Sizer(model, workload, instance)
    layouts = [lay for lay in map(sizer.layout, sizer.degrees()) if lay.capacity > 0]
    if not layouts:
        return plan_instance(model, workload, instance)

    def filled(lay: _Layout, _: dict[str, Any]) -> str:
        return (
            f"filled: tp={lay.tp} x {_copies(lay.copies)}, {lay.capacity} x {workload.context_tokens} tokens"
        )

    return sizer.plan(layouts, lambda lay: lay.capacity, True, filled)
