"""What an endpoint serves: the planner's row for a model on an instance, turned into container parameters.

The provisioner asks the planner the question ``strata plan`` answers, with the same defaults
(:data:`DEFAULT_CONTEXT_TOKENS` × :data:`DEFAULT_CONCURRENCY` sequences per instance, realistic
efficiency), and deploys the row it gets: the tensor-parallel degree becomes the container's
core/GPU count, the sequences per copy its batch size, the context its token limits; when the
row puts several copies on one instance they become one SageMaker inference component with that
many copies (see :class:`Placement`). So ``strata provision --dry-run`` creates exactly the
configuration ``strata plan`` shows for that instance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infrastructure.catalog import InstanceType
from infrastructure.provisioner.containers import ServingParams
from strata.errors import ConfigurationError, NotFoundError

# SageMaker keeps part of an instance's memory for its own agents, and the copies' minimums must
# fit together: each copy asks for its share of half the host memory (far more than loading a
# shard of the weights needs).
HOST_MEMORY_SHARE = 0.5
MIN_COPY_MEMORY_MB = 1024


@dataclass(frozen=True)
class Placement:
    """How model copies share one instance.

    One copy: a classic endpoint, the model in the production variant. Several: an endpoint
    whose variant hosts one inference component with ``copies`` copies per instance, each given
    ``accelerators_per_copy`` devices. SageMaker counts accelerator devices as GPUs or Neuron
    chips (the API: "accelerators include GPUs and AWS Inferentia"), which is why the planner
    places a Neuron copy that shares its instance on whole chips.
    """

    copies: int = 1
    accelerators_per_copy: int = 0
    memory_mb_per_copy: int = 0

    @property
    def uses_components(self) -> bool:
        return self.copies > 1


@dataclass(frozen=True)
class ModelRequest:
    """What the user asked to serve: a planner preset name or a Hugging Face id, and its workload."""

    model: str
    tp_degree: int | None = None
    context_tokens: int | None = None
    concurrency: int | None = None  # sequences per instance


@dataclass(frozen=True)
class Deployment:
    """The resolved serving configuration, and what the planner said about it."""

    params: ServingParams
    placement: Placement
    summary: str
    notes: tuple[str, ...] = ()


def _check_tp(inst: InstanceType, tp: int) -> int:
    if tp not in inst.tp_degrees:
        allowed = ", ".join(map(str, inst.tp_degrees))
        raise ConfigurationError(
            f"tensor-parallel degree {tp} is not possible on {inst.name}", hint=f"use one of: {allowed}"
        )
    return tp


def resolve_serving(req: ModelRequest, inst: InstanceType) -> Deployment:
    """The deployment of ``req`` on ``inst``: the planner's row when it knows the model."""
    from infrastructure import planner
    from infrastructure.planner.sizing import DEFAULT_CONCURRENCY, DEFAULT_CONTEXT_TOKENS

    try:
        preset = planner.get_model_preset(req.model)
    except NotFoundError:
        if "/" not in req.model:
            raise
        return _unplanned(req, inst)
    context = req.context_tokens or min(preset.max_context, DEFAULT_CONTEXT_TOKENS)
    concurrency = req.concurrency or DEFAULT_CONCURRENCY
    _check_workload(context, concurrency)
    if req.tp_degree is not None:
        _check_tp(inst, req.tp_degree)
    row = planner.plan_instance(preset, planner.Workload(context, concurrency), inst, tp=req.tp_degree)
    if not row.fits or row.tp_degree is None:
        if req.tp_degree is not None:
            raise ConfigurationError(
                f"tensor-parallel degree {req.tp_degree} is too small for {preset.name} on {inst.name}: "
                f"{row.reason}",
                hint="leave out --tp to let the planner choose",
            )
        raise ConfigurationError(
            f"{preset.name} does not fit {inst.name}: {row.reason}",
            hint="run `strata plan` to see instances that fit",
        )
    batch = math.ceil(concurrency / row.replicas)
    placement = Placement()
    if row.replicas > 1:
        memory = max(MIN_COPY_MEMORY_MB, int(inst.host_memory_gib * 1024 * HOST_MEMORY_SHARE / row.replicas))
        placement = Placement(row.replicas, row.devices_per_copy, memory)
    summary = (
        f"{inst.name}: tensor-parallel degree {row.tp_degree} x {row.replicas} "
        f"cop{'y' if row.replicas == 1 else 'ies'} per instance, {batch} sequences x {context} tokens per "
        f"copy (the planner's row for {concurrency} x {context} on this instance)"
    )
    return Deployment(_params(preset.hf_id, row.tp_degree, context, batch), placement, summary)


def recommended_instance(req: ModelRequest) -> str:
    """The instance ``strata plan`` recommends for ``req`` (a preset) on SageMaker hosting prices."""
    from infrastructure import planner
    from infrastructure.planner.sizing import DEFAULT_CONCURRENCY, DEFAULT_CONTEXT_TOKENS

    try:
        preset = planner.get_model_preset(req.model)
    except NotFoundError:
        if "/" not in req.model:
            raise
        raise ConfigurationError(
            f"{req.model!r} is not a planner preset, so there is no recommended instance",
            hint="pass --instance",
        ) from None
    context = req.context_tokens or min(preset.max_context, DEFAULT_CONTEXT_TOKENS)
    workload = planner.Workload(context, req.concurrency or DEFAULT_CONCURRENCY)
    return planner.recommend(preset, workload).instance.name


def _check_workload(context: int, concurrency: int) -> None:
    if context < 2 or concurrency < 1:
        raise ConfigurationError("--context-tokens must be >= 2 and --concurrency >= 1")


def _unplanned(req: ModelRequest, inst: InstanceType) -> Deployment:
    # A bare Hugging Face id: the planner has no size for it, so the user picks the sharding.
    from infrastructure.planner.sizing import DEFAULT_CONCURRENCY, DEFAULT_CONTEXT_TOKENS

    if req.tp_degree is None:
        raise ConfigurationError(
            f"{req.model!r} is not a planner preset, so its tensor-parallel degree is unknown",
            hint="pass --tp (and --context-tokens/--concurrency), or use a preset from `strata plan`",
        )
    tp = _check_tp(inst, req.tp_degree)
    context = req.context_tokens or DEFAULT_CONTEXT_TOKENS
    concurrency = req.concurrency or DEFAULT_CONCURRENCY
    _check_workload(context, concurrency)
    summary = (
        f"{inst.name}: tensor-parallel degree {tp} x 1 copy per instance, {concurrency} x {context} tokens"
    )
    note = f"{req.model} is not a planner preset: memory fit on {inst.name} was not checked"
    return Deployment(_params(req.model, tp, context, concurrency), Placement(), summary, (note,))


def _params(hf_id: str, tp: int, context: int, batch: int) -> ServingParams:
    # Leave a quarter of the window (at most 1024 tokens) for generated tokens.
    max_input = context - min(1024, context // 4)
    return ServingParams(hf_id, tp, batch, max_input, context)
