"""Capacity planner: will a model and workload fit on an instance type, how fast can it decode,
and what does an output token cost? Ranks the catalog by price-performance.

Public API (the provisioner and ``strata plan`` build on these names)::

    from infrastructure.planner import Workload, get_model_preset, recommend
    best = recommend(get_model_preset("llama-3.1-8b"), Workload(context_tokens=8192, concurrency=16))
    best.instance.name, best.tp_degree, best.usd_per_million_output_tokens

The method and its assumptions are documented in :mod:`infrastructure.planner.sizing`.
"""

from infrastructure.planner.compare import Comparison, compare
from infrastructure.planner.models import (
    PRESETS,
    ModelSpec,
    custom_model,
    estimate_params,
    get_model_preset,
    model_from_hf_config,
)
from infrastructure.planner.ranking import CapacityError, plan, recommend
from infrastructure.planner.sizing import (
    KV_DTYPE_BYTES,
    MEMORY_RESERVE,
    QUANT_BYTES,
    InstancePlan,
    Workload,
    kv_bytes_per_token,
    plan_at_saturation,
    plan_instance,
    weight_bytes,
)

__all__ = [
    "KV_DTYPE_BYTES",
    "MEMORY_RESERVE",
    "PRESETS",
    "QUANT_BYTES",
    "CapacityError",
    "Comparison",
    "InstancePlan",
    "ModelSpec",
    "Workload",
    "compare",
    "custom_model",
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
