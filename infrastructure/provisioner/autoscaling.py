"""Application Auto Scaling for a SageMaker endpoint: read, register, remove.

One scalable target and one target-tracking policy on the predefined invocations metric. The
target is the variant's instance count (``endpoint/<name>/variant/AllTraffic``) for a one-copy
endpoint, or the inference component's copy count (``inference-component/<name>-ic``) when
several copies share an instance (see :class:`~infrastructure.provisioner.spec.ScalingTarget`).
Both calls are upserts in AWS, so applying the same desired state twice is harmless;
:func:`target_matches` / :func:`policy_matches` tell the provisioner whether a call is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infrastructure.provisioner.spec import ScalingSpec, ScalingTarget, component_target, variant_target

NAMESPACE = "sagemaker"


def policy_name(endpoint_name: str) -> str:
    return f"{endpoint_name}-invocations-target"


@dataclass(frozen=True)
class ScalingState:
    """What Application Auto Scaling has for the endpoint now."""

    min_capacity: int
    max_capacity: int
    policy: dict[str, Any] | None  # TargetTrackingScalingPolicyConfiguration, if our policy exists
    target: ScalingTarget

    def to_spec(self) -> ScalingSpec | None:
        """The equivalent desired state, to restore it after a rollback (None if no policy)."""
        if self.policy is None:
            return None
        return ScalingSpec(
            self.min_capacity,
            self.max_capacity,
            float(self.policy["TargetValue"]),
            self.target,
            int(self.policy.get("ScaleInCooldown", 300)),
            int(self.policy.get("ScaleOutCooldown", 60)),
        )


def _read_target(client: Any, endpoint_name: str, target: ScalingTarget) -> ScalingState | None:
    targets = client.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[target.resource_id], ScalableDimension=target.dimension
    )["ScalableTargets"]
    if not targets:
        return None
    policies = client.describe_scaling_policies(
        ServiceNamespace=NAMESPACE,
        ResourceId=target.resource_id,
        ScalableDimension=target.dimension,
        PolicyNames=[policy_name(endpoint_name)],
    )["ScalingPolicies"]
    # moto filters PolicyNames loosely, so match the name here as well.
    config = next(
        (
            p.get("TargetTrackingScalingPolicyConfiguration")
            for p in policies
            if p["PolicyName"] == policy_name(endpoint_name) and p["ResourceId"] == target.resource_id
        ),
        None,
    )
    return ScalingState(targets[0]["MinCapacity"], targets[0]["MaxCapacity"], config, target)


def read(client: Any, endpoint_name: str) -> ScalingState | None:
    """Our scalable target (on the variant or on the inference component) and policy, or None."""
    for target in (variant_target(endpoint_name), component_target(endpoint_name)):
        state = _read_target(client, endpoint_name, target)
        if state is not None:
            return state
    return None


def policy_configuration(spec: ScalingSpec) -> dict[str, Any]:
    return {
        "TargetValue": spec.target_invocations,
        "PredefinedMetricSpecification": {"PredefinedMetricType": spec.target.metric},
        "ScaleInCooldown": spec.scale_in_cooldown_s,
        "ScaleOutCooldown": spec.scale_out_cooldown_s,
    }


def target_matches(state: ScalingState | None, spec: ScalingSpec) -> bool:
    return (
        state is not None
        and state.target == spec.target
        and (state.min_capacity, state.max_capacity) == (spec.min_capacity, spec.max_capacity)
    )


def policy_matches(state: ScalingState | None, spec: ScalingSpec) -> bool:
    if state is None or state.policy is None or state.target != spec.target:
        return False
    want = policy_configuration(spec)
    have = state.policy
    return (
        float(have.get("TargetValue", -1)) == want["TargetValue"]
        and have.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType") == spec.target.metric
        and have.get("ScaleInCooldown") == want["ScaleInCooldown"]
        and have.get("ScaleOutCooldown") == want["ScaleOutCooldown"]
    )


def register_target(client: Any, target: ScalingTarget, min_capacity: int, max_capacity: int) -> None:
    client.register_scalable_target(
        ServiceNamespace=NAMESPACE,
        ResourceId=target.resource_id,
        ScalableDimension=target.dimension,
        MinCapacity=min_capacity,
        MaxCapacity=max_capacity,
    )


def put_policy(client: Any, endpoint_name: str, spec: ScalingSpec) -> None:
    client.put_scaling_policy(
        PolicyName=policy_name(endpoint_name),
        ServiceNamespace=NAMESPACE,
        ResourceId=spec.target.resource_id,
        ScalableDimension=spec.target.dimension,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=policy_configuration(spec),
    )


def delete_policy(client: Any, endpoint_name: str, target: ScalingTarget) -> None:
    client.delete_scaling_policy(
        PolicyName=policy_name(endpoint_name),
        ServiceNamespace=NAMESPACE,
        ResourceId=target.resource_id,
        ScalableDimension=target.dimension,
    )


def deregister_target(client: Any, target: ScalingTarget) -> None:
    client.deregister_scalable_target(
        ServiceNamespace=NAMESPACE, ResourceId=target.resource_id, ScalableDimension=target.dimension
    )


def matches(state: ScalingState | None, spec: ScalingSpec) -> bool:
    return target_matches(state, spec) and policy_matches(state, spec)
