"""Capacity planner: will a model and workload fit on an instance type, in which tensor-parallel
layout, how fast can it decode, and what does an output token cost? Ranks the catalog by
price-performance.

Public API (the provisioner and ``strata plan`` build on these names)::

    from infrastructure.planner import Workload, get_model_preset, recommend
    best = recommend(get_model_preset("llama-3.1-8b"), Workload(context_tokens=8192, concurrency=16))
    best.instance.name, best.tp_degree, best.copies, best.usd_per_million_output_tokens

The method and its assumptions are documented in :mod:`infrastructure.planner.sizing`; the
calibration factors and their sources in :mod:`infrastructure.planner.efficiency`.
"""

from infrastructure.planner.compare import Comparison, compare
from infrastructure.planner.efficiency import Factor, collective_latency, decode_efficiency
from infrastructure.planner.memory import (
    KV_DTYPE_BYTES,
    MEMORY_RESERVE,
    QUANT_BYTES,
    kv_bytes_per_token,
    weight_bytes,
)
from infrastructure.planner.models import (
    PRESETS,
    ModelSpec,
    custom_model,
    estimate_params,
    get_model_preset,
    model_from_hf_config,
)
from infrastructure.planner.ranking import CapacityError, plan, recommend
from infrastructure.planner.sizing import InstancePlan, Workload, plan_at_saturation, plan_instance

__all__ = [
    "KV_DTYPE_BYTES",
    "MEMORY_RESERVE",
    "PRESETS",
    "QUANT_BYTES",
    "CapacityError",
    "Comparison",
    "Factor",
    "InstancePlan",
    "ModelSpec",
    "Workload",
    "collective_latency",
    "compare",
    "custom_model",
    "decode_efficiency",
    "estimate_params",
    "get_model_preset",
    "kv_bytes_per_token",
    "model_from_hf_config",
    "plan",
    "plan_at_saturation",
    "plan_instance",
    "recommend",
    "weight_bytes",
]
