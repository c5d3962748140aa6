"""Memory fit and bandwidth-bound decode ceilings for one model on one instance type.

The method, stated once (the CLI prints it next to every figure):

* **Weights** = total parameters × bytes per parameter of the quantisation (bf16 2, fp8 1,
  int8 1, int4 0.5; group scales ignored). MoE models keep every expert in memory.
* **KV cache** per token = 2 (K and V) × layers × KV heads × head dim × KV dtype bytes; each
  sequence is charged its full ``context_tokens``. When the tensor-parallel degree exceeds the
  KV heads, each shard still holds a whole head, so the cache is replicated by
  ``ceil(kv_heads / tp) · tp / kv_heads``.
* **Reserve**: 10% of accelerator memory is held back for activations, runtime buffers,
  compiled graphs and fragmentation.
* **Tensor parallelism** runs over GPUs, or over NeuronCores on Trainium/Inferentia (each core
  owns its share of its chip's HBM and bandwidth). The planner takes the smallest degree in the
  instance's ``tp_degrees`` at which one replica holds weights + its share of the requested
  sequences, and fills the instance with ``units // tp`` data-parallel replicas (as LMI/TGI
  workers do); requested sequences are spread evenly over replicas.
* **Decode** is memory-bandwidth bound: each step of a replica reads all (dense) weights once
  plus each of its sequences' KV cache, so tokens/s per sequence = bandwidth × utilisation /
  bytes per step. For MoE, a step reads the shared weights plus the experts that at least one
  of the ``c`` batched tokens routes to: expected fraction ``1 - (1 - k/E)^c`` (= active
  parameters at c = 1). A compute ceiling (2 FLOPs per active parameter per token at peak dense
  BF16) caps the aggregate; prefill time is not modelled.
* **$/1M output tokens** = on-demand $/hour ÷ (aggregate decode tokens/s × 3600) × 10⁶, i.e.
  the instance busy all billed hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from infrastructure.catalog import InstanceType
from infrastructure.planner.models import ModelSpec
from strata.errors import ConfigurationError

GiB = 1024**3
QUANT_BYTES: dict[str, float] = {"bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
KV_DTYPE_BYTES: dict[str, float] = {"bf16": 2.0, "fp8": 1.0}
MEMORY_RESERVE = 0.10


@dataclass(frozen=True)
class Workload:
    """What is to be served: sequences in flight, tokens per sequence, numeric formats."""

    context_tokens: int
    concurrency: int
    quant: str = "bf16"
    kv_dtype: str = "bf16"
    bandwidth_utilisation: float = 1.0  # fraction of peak memory bandwidth achieved (1 = ceiling)

    def __post_init__(self) -> None:
        if self.quant not in QUANT_BYTES:
            raise ConfigurationError(
                f"unknown quantisation {self.quant!r}", hint=f"choose one of: {', '.join(QUANT_BYTES)}"
            )
        if self.kv_dtype not in KV_DTYPE_BYTES:
            raise ConfigurationError(
                f"unknown KV cache dtype {self.kv_dtype!r}",
                hint=f"choose one of: {', '.join(KV_DTYPE_BYTES)}",
            )
        if self.context_tokens < 1 or self.concurrency < 1:
            raise ConfigurationError("context and concurrency must be at least 1")
        if not 0 < self.bandwidth_utilisation <= 1:
            raise ConfigurationError("bandwidth utilisation must be in (0, 1]")


@dataclass(frozen=True)
class InstancePlan:
    """The planner's verdict for one instance type (figures are ceilings, see module doc)."""

    instance: InstanceType
    fits: bool
    tp_degree: int | None
    replicas: int
    concurrency: int  # sequences the figures below are computed for (requested, or what fits)
    max_concurrency: int
    weights_gib: float
    kv_cache_gib: float  # KV cache of the requested sequences at full context (incl. replication)
    memory_usable_gib: float  # per replica, after the reserve
    decode_tps_per_seq: float
    decode_tps_aggregate: float
    usd_per_hour: float
    usd_per_million_output_tokens: float | None
    reason: str
    bound: str = "bandwidth"  # which ceiling binds the aggregate: "bandwidth" or "compute"

    def to_dict(self) -> dict[str, Any]:
        inst = self.instance
        return {
            "instance": inst.name,
            "family": inst.family,
            "accelerator": f"{inst.accelerator_count}x {inst.accelerator.name}",
            "accelerator_memory_gib": inst.accelerator_memory_gib,
            "memory_bandwidth_gbps": inst.memory_bandwidth_gbps,
            "fits": self.fits,
            "tp_degree": self.tp_degree,
            "replicas": self.replicas,
            "concurrency": self.concurrency,
            "max_concurrency": self.max_concurrency,
            "weights_gib": round(self.weights_gib, 3),
            "kv_cache_gib": round(self.kv_cache_gib, 3),
            "memory_usable_gib": round(self.memory_usable_gib, 3),
            "decode_tps_per_seq": round(self.decode_tps_per_seq, 2),
            "decode_tps_aggregate": round(self.decode_tps_aggregate, 2),
            "bound": self.bound,
            "usd_per_hour": self.usd_per_hour,
            "usd_per_million_output_tokens": (
                None
                if self.usd_per_million_output_tokens is None
                else round(self.usd_per_million_output_tokens, 4)
            ),
            "price_source": inst.price.source,
            "price_as_of": inst.price.as_of,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class _Units:
    """The devices tensor parallelism spans: GPUs, or NeuronCores on Neuron instances."""

    count: int
    memory_bytes: float
    bandwidth_bytes_s: float
    bf16_flops: float
    neuron: bool


def _units(instance: InstanceType) -> _Units:
    acc = instance.accelerator
    per_chip = acc.neuron_cores if acc.neuron_cores else 1
    return _Units(
        count=instance.accelerator_count * per_chip,
        memory_bytes=acc.memory_gib * GiB / per_chip,
        bandwidth_bytes_s=acc.memory_bandwidth_gbps * 1e9 / per_chip,
        bf16_flops=acc.dense_bf16_tflops * 1e12 / per_chip,
        neuron=bool(acc.neuron_cores),
    )


def weight_bytes(model: ModelSpec, quant: str) -> float:
    """Bytes of all weights held in accelerator memory."""
    return model.total_params * QUANT_BYTES[quant]


def kv_bytes_per_token(model: ModelSpec, kv_dtype: str = "bf16") -> float:
    """2 (K and V) × layers × KV heads × head dim × bytes per element."""
    return 2 * model.layers * model.kv_heads * model.head_dim * KV_DTYPE_BYTES[kv_dtype]


def kv_replication(model: ModelSpec, tp: int) -> float:
    """Factor by which tensor parallelism replicates KV heads (1 when tp divides the KV heads)."""
    return math.ceil(model.kv_heads / tp) * tp / model.kv_heads


def weight_bytes_read_per_step(model: ModelSpec, quant: str, batch: int) -> float:
    """Weight bytes one decode step reads for ``batch`` sequences (MoE: experts touched)."""
    if not model.is_moe:
        return weight_bytes(model, quant)
    shared, per_expert = model.expert_params()
    k, e = model.experts_per_token, model.num_experts
    touched = e * (1 - (1 - k / e) ** batch)
    return (shared + per_expert * touched) * QUANT_BYTES[quant]


def _valid_tp_degrees(model: ModelSpec, instance: InstanceType, units: _Units) -> list[int]:
    out = []
    for tp in sorted(instance.tp_degrees):
        if tp > units.count:
            continue
        # GPU engines (vLLM, TGI, TensorRT-LLM) shard attention heads evenly; Neuron pads them.
        if not units.neuron and model.num_attention_heads and model.num_attention_heads % tp:
            continue
        out.append(tp)
    return out


def _replica_tps(model: ModelSpec, wl: Workload, units: _Units, tp: int, batch: int) -> tuple[float, str]:
    """Aggregate decode tokens/s of one replica serving ``batch`` sequences, and the binding limit."""
    if batch == 0:
        return 0.0, "bandwidth"
    kv_seq = kv_bytes_per_token(model, wl.kv_dtype) * wl.context_tokens * kv_replication(model, tp)
    step_bytes = weight_bytes_read_per_step(model, wl.quant, batch) + batch * kv_seq
    bandwidth_tps = batch * tp * units.bandwidth_bytes_s * wl.bandwidth_utilisation / step_bytes
    compute_tps = tp * units.bf16_flops / (2 * model.active_params)
    if compute_tps < bandwidth_tps:
        return compute_tps, "compute"
    return bandwidth_tps, "bandwidth"


def _evaluate(
    model: ModelSpec, wl: Workload, instance: InstanceType, tp: int, served: int, units: _Units
) -> dict[str, Any]:
    """Throughput and cost with ``served`` sequences spread evenly over the replicas."""
    replicas = units.count // tp
    q, r = divmod(served, replicas)
    loads = [q + 1] * r + [q] * (replicas - r)
    per_replica = [_replica_tps(model, wl, units, tp, c) for c in loads]
    aggregate = sum(t for t, _ in per_replica)
    busiest_tps, bound = per_replica[0]
    per_seq = busiest_tps / loads[0] if loads[0] else 0.0
    price = instance.price.usd_per_hour
    usd_m = price / (aggregate * 3600) * 1e6 if aggregate > 0 else None
    return dict(
        tp_degree=tp, replicas=replicas, concurrency=served, decode_tps_per_seq=per_seq,
        decode_tps_aggregate=aggregate, usd_per_million_output_tokens=usd_m, bound=bound,
    )  # fmt: skip


def _capacity(model: ModelSpec, wl: Workload, units: _Units, tp: int) -> tuple[float, int]:
    """(usable bytes per replica, sequences one replica holds at full context)."""
    usable = tp * units.memory_bytes * (1 - MEMORY_RESERVE)
    kv_seq = kv_bytes_per_token(model, wl.kv_dtype) * wl.context_tokens * kv_replication(model, tp)
    free = usable - weight_bytes(model, wl.quant)
    return usable, max(0, math.floor(free / kv_seq)) if free > 0 else 0


def check_context(model: ModelSpec, workload: Workload) -> None:
    if workload.context_tokens > model.max_context:
        raise ConfigurationError(
            f"context {workload.context_tokens} exceeds {model.name}'s maximum of {model.max_context} tokens"
        )


def plan_instance(model: ModelSpec, workload: Workload, instance: InstanceType) -> InstancePlan:
    """Fit, tensor-parallel degree, decode ceilings and cost of ``workload`` on one instance."""
    check_context(model, workload)
    units = _units(instance)
    w_gib = weight_bytes(model, workload.quant) / GiB
    kv_req = kv_bytes_per_token(model, workload.kv_dtype) * workload.context_tokens * workload.concurrency
    base = dict(
        instance=instance, weights_gib=w_gib, usd_per_hour=instance.price.usd_per_hour,
        kv_cache_gib=kv_req / GiB,
    )  # fmt: skip
    degrees = _valid_tp_degrees(model, instance, units)
    if not degrees:
        return _no_fit(base, f"no tensor-parallel degree in {instance.tp_degrees} divides "
                             f"{model.num_attention_heads} attention heads")  # fmt: skip
    options = []
    for tp in degrees:
        usable, per_replica = _capacity(model, workload, units, tp)
        replicas = units.count // tp
        options.append((tp, usable, per_replica, replicas * per_replica))
        if per_replica >= math.ceil(workload.concurrency / replicas):
            kv = kv_req * kv_replication(model, tp)
            figures = _evaluate(model, workload, instance, tp, workload.concurrency, units)
            reason = (
                f"tp={tp} x {replicas} replica(s); weights {w_gib:.1f} GiB + KV {kv / GiB:.1f} GiB "
                f"for {workload.concurrency} x {workload.context_tokens} tokens"
            )
            return InstancePlan(
                **base | {"kv_cache_gib": kv / GiB}, fits=True, memory_usable_gib=usable / GiB,
                max_concurrency=replicas * per_replica, reason=reason, **figures,
            )  # fmt: skip
    tp, usable, _, best = max(options, key=lambda o: (o[3], -o[0]))
    if best == 0:
        return _no_fit(base | {"memory_usable_gib": usable / GiB},
                       f"weights {w_gib:.1f} GiB + one sequence's KV exceed {usable / GiB:.1f} GiB usable "
                       f"at the largest tp={tp}")  # fmt: skip
    figures = _evaluate(model, workload, instance, tp, best, units)
    reason = (
        f"only {best} of {workload.concurrency} sequences x {workload.context_tokens} tokens fit (tp={tp})"
    )
    return InstancePlan(**base, fits=False, memory_usable_gib=usable / GiB, max_concurrency=best,
                        reason=reason, **figures)  # fmt: skip


def _no_fit(base: dict[str, Any], reason: str) -> InstancePlan:
    fields = dict(
        fits=False, tp_degree=None, replicas=0, concurrency=0, max_concurrency=0, memory_usable_gib=0.0,
        decode_tps_per_seq=0.0, decode_tps_aggregate=0.0, usd_per_million_output_tokens=None,
    )  # fmt: skip
    return InstancePlan(**(fields | base), reason=reason)


def plan_at_saturation(model: ModelSpec, workload: Workload, instance: InstanceType) -> InstancePlan:
    """The instance filled to the most sequences it holds at this context (best tp by $/1M tokens).

    This is the price-performance an operator gets when traffic keeps the instance full — the
    basis on which vendors quote price-performance.
    """
    check_context(model, workload)
    units = _units(instance)
    best: InstancePlan | None = None
    for tp in _valid_tp_degrees(model, instance, units):
        _, per_replica = _capacity(model, workload, units, tp)
        total = per_replica * (units.count // tp)
        if total == 0:
            continue
        candidate = plan_instance(model, replace(workload, concurrency=total), instance)
        if candidate.fits and (
            best is None
            or (candidate.usd_per_million_output_tokens or math.inf)
            < (best.usd_per_million_output_tokens or math.inf)
        ):
            best = candidate
    return best if best is not None else plan_instance(model, workload, instance)
