"""The desired state of one strata-managed SageMaker endpoint, validated, and the hashes that name it.

An :class:`EndpointSpec` is pure data: what the Model, EndpointConfig, Endpoint and Application
Auto Scaling target/policy should look like. The Model and EndpointConfig are immutable in
SageMaker, so each is named ``<endpoint>-m-<hash>`` / ``<endpoint>-c-<hash>`` after a short hash
of exactly what it contains: an identical re-run finds the names already there (nothing to
create), any change yields new names (create new, roll the endpoint, delete the old).
:func:`build_spec` turns CLI-level input into a spec, checking it against the catalog, botocore's
service model and the capacity planner, and raising one-line :class:`StrataError`\\ s.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from infrastructure.catalog import InstanceType, get_instance_type
from infrastructure.provisioner.containers import ContainerConfig, ServingParams, container_for
from strata.errors import ConfigurationError, NotFoundError

VARIANT = "AllTraffic"
HASH_LEN = 10
# SageMaker names are at most 63 characters; keep room for "-c-" plus the hash.
MAX_ENDPOINT_NAME = 63 - 3 - HASH_LEN
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
ROLE_ENV = "STRATA_SAGEMAKER_ROLE_ARN"
MANAGED_BY_TAG = {"Key": "strata:managed-by", "Value": "strata"}
DEFAULT_CONTEXT_TOKENS = 4096
DEFAULT_CONCURRENCY = 4
# SageMakerVariantInvocationsPerInstance counts requests per instance per minute. An LLM request
# of a few hundred output tokens takes ~10 s, so one batch slot completes ~6 requests a minute.
INVOCATIONS_PER_SLOT_PER_MINUTE = 6


@dataclass(frozen=True)
class ScalingSpec:
    """Application Auto Scaling for the endpoint's one variant (target tracking on invocations)."""

    min_capacity: int
    max_capacity: int
    target_invocations_per_instance: float
    scale_in_cooldown_s: int = 300
    scale_out_cooldown_s: int = 60


@dataclass(frozen=True)
class EndpointSpec:
    """Everything a provision run converges one endpoint to."""

    name: str
    region: str
    role_arn: str
    instance_type: str
    container: ContainerConfig
    scaling: ScalingSpec
    model_label: str  # the preset or HF id the user asked for, for messages only
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def model_hash(self) -> str:
        return _short_hash(
            {"image": self.container.image, "env": self.container.environment, "role": self.role_arn}
        )

    @property
    def model_name(self) -> str:
        return f"{self.name}-m-{self.model_hash}"

    def _variant(self) -> dict[str, Any]:
        return {
            "VariantName": VARIANT,
            "ModelName": self.model_name,
            "InstanceType": self.instance_type,
            "InitialInstanceCount": self.scaling.min_capacity,
            "InitialVariantWeight": 1.0,
            "ContainerStartupHealthCheckTimeoutInSeconds": self.container.startup_health_check_timeout_s,
            "ModelDataDownloadTimeoutInSeconds": self.container.model_download_timeout_s,
        }

    @property
    def config_hash(self) -> str:
        return _short_hash(self._variant())

    @property
    def config_name(self) -> str:
        return f"{self.name}-c-{self.config_hash}"

    @property
    def scaling_resource_id(self) -> str:
        return scaling_resource_id(self.name)

    def tags(self, spec_hash: str) -> list[dict[str, str]]:
        return [
            MANAGED_BY_TAG,
            {"Key": "strata:endpoint", "Value": self.name},
            {"Key": "strata:spec-hash", "Value": spec_hash},
        ]

    def create_model_request(self) -> dict[str, Any]:
        return {
            "ModelName": self.model_name,
            "ExecutionRoleArn": self.role_arn,
            "PrimaryContainer": {"Image": self.container.image, "Environment": self.container.environment},
            "Tags": self.tags(self.model_hash),
        }

    def create_endpoint_config_request(self) -> dict[str, Any]:
        return {
            "EndpointConfigName": self.config_name,
            "ProductionVariants": [self._variant()],
            "Tags": self.tags(self.config_hash),
        }


def scaling_resource_id(endpoint_name: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{VARIANT}"


def model_name_re(endpoint_name: str) -> re.Pattern[str]:
    """Names of Models this tool created for ``endpoint_name`` (and only those)."""
    return re.compile(rf"^{re.escape(endpoint_name)}-m-[0-9a-f]{{{HASH_LEN}}}$")


def config_name_re(endpoint_name: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(endpoint_name)}-c-[0-9a-f]{{{HASH_LEN}}}$")


def _short_hash(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:HASH_LEN]


def validate_endpoint_name(name: str) -> str:
    if not _NAME_RE.match(name) or len(name) > MAX_ENDPOINT_NAME:
        raise ConfigurationError(
            f"invalid endpoint name {name!r}",
            hint=f"use letters, digits and hyphens, start and end alphanumeric, at most {MAX_ENDPOINT_NAME}"
            " characters",
        )
    return name


@cache
def sagemaker_instance_types() -> frozenset[str]:
    """Hosting instance types SageMaker accepts, from botocore's service model (not moto's list)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for("ProductionVariantInstanceType").enum)


def validate_instance_type(name: str) -> InstanceType:
    """The catalogued instance type ``name``, which SageMaker must also know as a hosting type."""
    inst = get_instance_type(name)
    if name not in sagemaker_instance_types():
        raise ConfigurationError(f"instance type {name!r} is not a SageMaker hosting instance type")
    return inst


def resolve_role(role_arn: str | None) -> str:
    role = role_arn or os.environ.get(ROLE_ENV, "")
    if not role:
        raise ConfigurationError(
            "no SageMaker execution role given", hint=f"pass --role-arn or set {ROLE_ENV}"
        )
    if not _ROLE_RE.match(role):
        raise ConfigurationError(
            f"invalid role ARN {role!r}", hint="expected arn:aws:iam::<12-digit account>:role/<name>"
        )
    return role


def validate_capacity(min_capacity: int, max_capacity: int) -> None:
    if min_capacity < 1 or max_capacity < min_capacity:
        raise ConfigurationError(
            f"invalid capacity {min_capacity}..{max_capacity}",
            hint="need 1 <= --min-capacity <= --max-capacity",
        )


@dataclass(frozen=True)
class ModelRequest:
    """What the user asked to serve: a planner preset name or a Hugging Face id, and its workload."""

    model: str
    tp_degree: int | None = None
    context_tokens: int | None = None
    concurrency: int | None = None


def _check_tp(inst: InstanceType, tp: int) -> int:
    if tp not in inst.tp_degrees:
        allowed = ", ".join(map(str, inst.tp_degrees))
        raise ConfigurationError(
            f"tensor-parallel degree {tp} is not possible on {inst.name}", hint=f"use one of: {allowed}"
        )
    return tp


def resolve_serving(req: ModelRequest, inst: InstanceType) -> tuple[ServingParams, tuple[str, ...]]:
    """Serving parameters for ``req`` on ``inst``, checked by the planner when it knows the model."""
    from infrastructure import planner

    try:
        preset = planner.get_model_preset(req.model)
    except NotFoundError:
        if "/" not in req.model:
            raise
        return _unplanned_serving(req, inst)
    context = req.context_tokens or min(preset.max_context, DEFAULT_CONTEXT_TOKENS)
    concurrency = req.concurrency or DEFAULT_CONCURRENCY
    plan = planner.plan_instance(preset, planner.Workload(context, concurrency), inst)
    if not plan.fits or plan.tp_degree is None:
        raise ConfigurationError(
            f"{preset.name} does not fit {inst.name}: {plan.reason}",
            hint="run `strata plan` to see instances that fit",
        )
    tp, notes = _single_copy_tp(req, inst, plan.tp_degree, plan.replicas, preset.num_attention_heads)
    return _params(preset.hf_id, tp, context, concurrency), notes


def _single_copy_tp(
    req: ModelRequest, inst: InstanceType, planned_tp: int, replicas: int, heads: int
) -> tuple[int, tuple[str, ...]]:
    """The tensor-parallel degree of the one model copy a SageMaker endpoint runs per instance.

    The planner may fit several smaller copies (``replicas``) per instance; an endpoint without
    inference components runs one container, so it shards that one copy over as many devices as
    allowed: it holds the weights once and all the KV cache the replicas would have, so it fits
    whenever the planner's replicated layout fits.
    """
    if req.tp_degree is not None:
        tp = _check_tp(inst, req.tp_degree)
        if tp < planned_tp:
            raise ConfigurationError(
                f"tensor-parallel degree {tp} is too small for the model on {inst.name}",
                hint=f"the planner needs at least tp={planned_tp}",
            )
        return tp, ()
    units = inst.neuron_cores if inst.family != "nvidia" else inst.accelerator_count
    # GPU servers shard attention heads evenly; Neuron pads them (same rule as the planner's).
    valid = [
        d
        for d in inst.tp_degrees
        if planned_tp <= d <= units and (inst.family != "nvidia" or not heads or heads % d == 0)
    ]
    tp = max(valid, default=planned_tp)
    if tp != planned_tp:
        return tp, (
            f"planner fits tp={planned_tp} x {replicas} copies; one container per instance uses tp={tp}",
        )
    return tp, ()


def _unplanned_serving(req: ModelRequest, inst: InstanceType) -> tuple[ServingParams, tuple[str, ...]]:
    # A bare Hugging Face id: the planner has no size for it, so the user picks the sharding.
    if req.tp_degree is None:
        raise ConfigurationError(
            f"{req.model!r} is not a planner preset, so its tensor-parallel degree is unknown",
            hint="pass --tp (and --context-tokens/--concurrency), or use a preset from `strata plan`",
        )
    tp = _check_tp(inst, req.tp_degree)
    context = req.context_tokens or DEFAULT_CONTEXT_TOKENS
    params = _params(req.model, tp, context, req.concurrency or DEFAULT_CONCURRENCY)
    return params, (f"{req.model} is not a planner preset: memory fit on {inst.name} was not checked",)


def _params(hf_id: str, tp: int, context: int, concurrency: int) -> ServingParams:
    if context < 2 or concurrency < 1:
        raise ConfigurationError("--context-tokens must be >= 2 and --concurrency >= 1")
    # Leave a quarter of the window (at most 1024 tokens) for generated tokens.
    max_input = context - min(1024, context // 4)
    return ServingParams(hf_id, tp, concurrency, max_input, context)


def build_spec(
    name: str,
    req: ModelRequest,
    instance_type: str,
    *,
    region: str,
    role_arn: str | None,
    server: str = "tgi",
    min_capacity: int = 1,
    max_capacity: int = 1,
    target_invocations: float | None = None,
    extra_env: dict[str, str] | None = None,
) -> EndpointSpec:
    """Validate CLI-level input and return the endpoint's desired state."""
    validate_endpoint_name(name)
    inst = validate_instance_type(instance_type)
    validate_capacity(min_capacity, max_capacity)
    role = resolve_role(role_arn)
    params, notes = resolve_serving(req, inst)
    container = container_for(inst, server, params, region, extra_env)
    target = target_invocations or float(INVOCATIONS_PER_SLOT_PER_MINUTE * params.max_batch_size)
    if target <= 0:
        raise ConfigurationError("--target-invocations must be positive")
    scaling = ScalingSpec(min_capacity, max_capacity, target)
    return EndpointSpec(name, region, role, inst.name, container, scaling, req.model, notes)
