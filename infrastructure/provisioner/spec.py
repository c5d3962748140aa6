"""The desired state of one strata-managed SageMaker endpoint, validated, and the hashes that name it.

An :class:`EndpointSpec` is pure data: what the Model, EndpointConfig, Endpoint, inference
component (when the planner puts several model copies on one instance) and Application Auto
Scaling target/policy should look like — the single source a CDK app can build the same
resources from. The Model and EndpointConfig are immutable in SageMaker, so each is named
``<endpoint>-m-<hash>`` / ``<endpoint>-c-<hash>`` after a short hash of exactly what it contains:
an identical re-run finds the names already there (nothing to create), any change yields new names
(create new, roll the endpoint, delete the old). The inference component is mutable and keeps
one name, ``<endpoint>-ic``. :func:`build_spec` turns CLI-level input into a spec, checking it
against the catalog, botocore's service model and the capacity planner, and raising one-line
:class:`StrataError`\\ s.
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
from infrastructure.provisioner.containers import ContainerConfig, container_for
from infrastructure.provisioner.serving import ModelRequest, Placement, resolve_serving
from strata.errors import ConfigurationError

__all__ = ["EndpointSpec", "ModelRequest", "Placement", "ScalingSpec", "ScalingTarget", "build_spec"]

VARIANT = "AllTraffic"
HASH_LEN = 10
# SageMaker names are at most 63 characters; keep room for "-c-" plus the hash.
MAX_ENDPOINT_NAME = 63 - 3 - HASH_LEN
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
ROLE_ENV = "STRATA_SAGEMAKER_ROLE_ARN"
MANAGED_BY_TAG = {"Key": "strata:managed-by", "Value": "strata"}
# SageMakerVariantInvocationsPerInstance counts requests per instance per minute. An LLM request
# of a few hundred output tokens takes ~10 s, so one batch slot completes ~6 requests a minute.
INVOCATIONS_PER_SLOT_PER_MINUTE = 6


@dataclass(frozen=True)
class ScalingTarget:
    """What Application Auto Scaling scales: the variant's instances, or the inference component's copies."""

    resource_id: str
    dimension: str
    metric: str  # the predefined target-tracking metric for that dimension


def variant_target(endpoint_name: str) -> ScalingTarget:
    return ScalingTarget(
        scaling_resource_id(endpoint_name),
        "sagemaker:variant:DesiredInstanceCount",
        "SageMakerVariantInvocationsPerInstance",
    )


def component_target(endpoint_name: str) -> ScalingTarget:
    return ScalingTarget(
        f"inference-component/{component_name(endpoint_name)}",
        "sagemaker:inference-component:DesiredCopyCount",
        "SageMakerInferenceComponentInvocationsPerCopy",
    )


@dataclass(frozen=True)
class ScalingSpec:
    """Application Auto Scaling for the endpoint (target tracking on invocations per unit).

    The unit is an instance for a one-copy endpoint, a model copy when an inference component
    holds several per instance (SageMaker's managed instance scaling then follows the copies).
    """

    min_capacity: int
    max_capacity: int
    target_invocations: float  # per unit per minute
    target: ScalingTarget
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
    placement: Placement = field(default_factory=Placement)
    summary: str = field(default="", compare=False)  # the deployment in words (the planner's row)
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def uses_components(self) -> bool:
        return self.placement.uses_components

    @property
    def instance_range(self) -> tuple[int, int]:
        """(min, max) instances; with an inference component the scaled unit is a copy."""
        per = self.placement.copies
        return self.scaling.min_capacity // per, self.scaling.max_capacity // per

    @property
    def model_hash(self) -> str:
        return _short_hash(
            {"image": self.container.image, "env": self.container.environment, "role": self.role_arn}
        )

    @property
    def model_name(self) -> str:
        return f"{self.name}-m-{self.model_hash}"

    def _variant(self) -> dict[str, Any]:
        low, high = self.instance_range
        variant: dict[str, Any] = {
            "VariantName": VARIANT,
            "InstanceType": self.instance_type,
            "InitialInstanceCount": low,
        }
        if self.uses_components:
            # The model lives in the inference component; SageMaker adds instances as copies need them.
            return variant | {
                "ManagedInstanceScaling": {
                    "Status": "ENABLED",
                    "MinInstanceCount": low,
                    "MaxInstanceCount": high,
                },
                "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
            }
        return variant | {
            "ModelName": self.model_name,
            "InitialVariantWeight": 1.0,
            "ContainerStartupHealthCheckTimeoutInSeconds": self.container.startup_health_check_timeout_s,
            "ModelDataDownloadTimeoutInSeconds": self.container.model_download_timeout_s,
        }

    @property
    def config_hash(self) -> str:
        return _short_hash(self._variant() | ({"role": self.role_arn} if self.uses_components else {}))

    @property
    def config_name(self) -> str:
        return f"{self.name}-c-{self.config_hash}"

    @property
    def component_name(self) -> str:
        return component_name(self.name)

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
        request: dict[str, Any] = {
            "EndpointConfigName": self.config_name,
            "ProductionVariants": [self._variant()],
            "Tags": self.tags(self.config_hash),
        }
        if self.uses_components:  # inference components run under the endpoint's role
            request["ExecutionRoleArn"] = self.role_arn
        return request

    def component_specification(self) -> dict[str, Any]:
        """The inference component's Specification, as SageMaker describes it back (for drift checks)."""
        p = self.placement
        return {
            "ModelName": self.model_name,
            "StartupParameters": {
                "ModelDataDownloadTimeoutInSeconds": self.container.model_download_timeout_s,
                "ContainerStartupHealthCheckTimeoutInSeconds": self.container.startup_health_check_timeout_s,
            },
            "ComputeResourceRequirements": {
                "NumberOfAcceleratorDevicesRequired": float(p.accelerators_per_copy),
                "MinMemoryRequiredInMb": p.memory_mb_per_copy,
            },
        }

    def create_inference_component_request(self) -> dict[str, Any]:
        return {
            "InferenceComponentName": self.component_name,
            "EndpointName": self.name,
            "VariantName": VARIANT,
            "Specification": self.component_specification(),
            "RuntimeConfig": {"CopyCount": self.scaling.min_capacity},
            "Tags": self.tags(_short_hash(self.component_specification())),
        }

    def update_inference_component_request(self) -> dict[str, Any]:
        # The copy count belongs to autoscaling once the component exists; only the spec is converged.
        return {
            "InferenceComponentName": self.component_name,
            "Specification": self.component_specification(),
        }


def component_name(endpoint_name: str) -> str:
    return f"{endpoint_name}-ic"


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
    """Validate CLI-level input and return the endpoint's desired state (the planner's row, deployed)."""
    validate_endpoint_name(name)
    inst = validate_instance_type(instance_type)
    validate_capacity(min_capacity, max_capacity)
    role = resolve_role(role_arn)
    deployment = resolve_serving(req, inst)
    container = container_for(inst, server, deployment.params, region, extra_env)
    # One unit is an instance, or one copy when the component holds several per instance.
    target = target_invocations or float(INVOCATIONS_PER_SLOT_PER_MINUTE * deployment.params.max_batch_size)
    if target <= 0:
        raise ConfigurationError("--target-invocations must be positive")
    copies = deployment.placement.copies
    scaling = ScalingSpec(
        min_capacity * copies,
        max_capacity * copies,
        target,
        component_target(name) if deployment.placement.uses_components else variant_target(name),
    )
    return EndpointSpec(
        name, region, role, inst.name, container, scaling, req.model, deployment.placement,
        deployment.summary, deployment.notes,
    )  # fmt: skip
