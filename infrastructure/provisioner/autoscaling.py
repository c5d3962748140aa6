"""Application Auto Scaling for a SageMaker endpoint variant: read, register, remove.

One scalable target (``sagemaker:variant:DesiredInstanceCount`` on
``endpoint/<name>/variant/AllTraffic``) and one target-tracking policy on the predefined
``SageMakerVariantInvocationsPerInstance`` metric. Both calls are upserts in AWS, so applying
the same desired state twice is harmless; :func:`matches` tells the provisioner whether a call
is needed at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infrastructure.provisioner.spec import ScalingSpec, scaling_resource_id

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"


def policy_name(endpoint_name: str) -> str:
    return f"{endpoint_name}-invocations-target"


@dataclass(frozen=True)
class ScalingState:
    """What Application Auto Scaling has for the endpoint's variant now."""

    min_capacity: int
    max_capacity: int
    policy: dict[str, Any] | None  # TargetTrackingScalingPolicyConfiguration, if our policy exists

    def to_spec(self) -> ScalingSpec | None:
        """The equivalent desired state, to restore it after a rollback (None if no policy)."""
        if self.policy is None:
            return None
        return ScalingSpec(
            self.min_capacity,
            self.max_capacity,
            float(self.policy["TargetValue"]),
            int(self.policy.get("ScaleInCooldown", 300)),
            int(self.policy.get("ScaleOutCooldown", 60)),
        )


def read(client: Any, endpoint_name: str) -> ScalingState | None:
    """The scalable target and our policy for ``endpoint_name``, or None when not registered."""
    rid = scaling_resource_id(endpoint_name)
    targets = client.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[rid], ScalableDimension=DIMENSION
    )["ScalableTargets"]
    if not targets:
        return None
    policies = client.describe_scaling_policies(
        ServiceNamespace=NAMESPACE,
        ResourceId=rid,
        ScalableDimension=DIMENSION,
        PolicyNames=[policy_name(endpoint_name)],
    )["ScalingPolicies"]
    # moto filters PolicyNames loosely, so match the name here as well.
    config = next(
        (
            p.get("TargetTrackingScalingPolicyConfiguration")
            for p in policies
            if p["PolicyName"] == policy_name(endpoint_name) and p["ResourceId"] == rid
        ),
        None,
    )
    return ScalingState(targets[0]["MinCapacity"], targets[0]["MaxCapacity"], config)


def policy_configuration(spec: ScalingSpec) -> dict[str, Any]:
    return {
        "TargetValue": spec.target_invocations_per_instance,
        "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
        "ScaleInCooldown": spec.scale_in_cooldown_s,
        "ScaleOutCooldown": spec.scale_out_cooldown_s,
    }


def target_matches(state: ScalingState | None, spec: ScalingSpec) -> bool:
    return state is not None and (state.min_capacity, state.max_capacity) == (
        spec.min_capacity,
        spec.max_capacity,
    )


def policy_matches(state: ScalingState | None, spec: ScalingSpec) -> bool:
    if state is None or state.policy is None:
        return False
    want = policy_configuration(spec)
    have = state.policy
    return (
        float(have.get("TargetValue", -1)) == want["TargetValue"]
        and have.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType") == METRIC
        and have.get("ScaleInCooldown") == want["ScaleInCooldown"]
        and have.get("ScaleOutCooldown") == want["ScaleOutCooldown"]
    )


def matches(state: ScalingState | None, spec: ScalingSpec) -> bool:
    return target_matches(state, spec) and policy_matches(state, spec)


def register_target(client: Any, endpoint_name: str, min_capacity: int, max_capacity: int) -> None:
    client.register_scalable_target(
        ServiceNamespace=NAMESPACE,
        ResourceId=scaling_resource_id(endpoint_name),
        ScalableDimension=DIMENSION,
        MinCapacity=min_capacity,
        MaxCapacity=max_capacity,
    )


def put_policy(client: Any, endpoint_name: str, spec: ScalingSpec) -> None:
    client.put_scaling_policy(
        PolicyName=policy_name(endpoint_name),
        ServiceNamespace=NAMESPACE,
        ResourceId=scaling_resource_id(endpoint_name),
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=policy_configuration(spec),
    )


def delete_policy(client: Any, endpoint_name: str) -> None:
    client.delete_scaling_policy(
        PolicyName=policy_name(endpoint_name),
        ServiceNamespace=NAMESPACE,
        ResourceId=scaling_resource_id(endpoint_name),
        ScalableDimension=DIMENSION,
    )


def deregister_target(client: Any, endpoint_name: str) -> None:
    client.deregister_scalable_target(
        ServiceNamespace=NAMESPACE,
        ResourceId=scaling_resource_id(endpoint_name),
        ScalableDimension=DIMENSION,
    )


def remove(client: Any, endpoint_name: str, state: ScalingState) -> None:
    """Delete our policy (if any) then the target; AWS also drops policies with the target."""
    if state.policy is not None:
        delete_policy(client, endpoint_name)
    deregister_target(client, endpoint_name)
