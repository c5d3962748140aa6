"""Provision/deprovision against moto: create, idempotence, rolls, in-place scaling, dry runs."""

from __future__ import annotations

import pytest

from infrastructure.provisioner import autoscaling
from infrastructure.provisioner.state import read_state
from strata.errors import ConfigurationError


def _verbs(result) -> list[tuple[str, str]]:
    return [(a.verb, a.kind) for a in result.actions if a.mutating]


def test_first_run_creates_everything(provisioner, aws, make_spec, events):
    spec = make_spec()
    result = provisioner.provision(spec)
    assert _verbs(result) == [
        ("create", "model"),
        ("create", "endpoint-config"),
        ("create", "endpoint"),
        ("create", "scalable-target"),
        ("create", "scaling-policy"),
    ]
    assert result.status == "InService"
    sm = aws.sagemaker
    ep = sm.describe_endpoint(EndpointName="demo")
    assert ep["EndpointStatus"] == "InService" and ep["EndpointConfigName"] == spec.config_name
    variant = sm.describe_endpoint_config(EndpointConfigName=spec.config_name)["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.inf2.xlarge"
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 1800
    container = sm.describe_model(ModelName=spec.model_name)["PrimaryContainer"]
    assert container["Environment"]["HF_NUM_CORES"] == "2"
    assert "neuronx" in container["Image"]
    tags = sm.list_tags(ResourceArn=ep["EndpointArn"])["Tags"]
    assert {"Key": "strata:managed-by", "Value": "strata"} in tags
    target = aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
    assert target["ResourceId"] == "endpoint/demo/variant/AllTraffic"
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    policy = aws.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"][0]
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == spec.scaling.target.metric
    assert spec.scaling.target.metric == "SageMakerVariantInvocationsPerInstance"
    assert config["TargetValue"] == spec.scaling.target_invocations
    assert any("InService" in e for e in events)


def test_second_identical_run_changes_nothing(provisioner, calls, make_spec):
    provisioner.provision(make_spec())
    calls.calls.clear()
    again = provisioner.provision(make_spec())
    assert not again.changed
    assert calls.calls and calls.mutating == []  # read calls only


def test_changed_instance_rolls_endpoint_and_removes_old_config(provisioner, aws, calls, make_spec):
    first = make_spec()
    provisioner.provision(first)
    calls.calls.clear()
    second = make_spec(instance="ml.inf2.8xlarge")
    result = provisioner.provision(second)
    assert ("update", "endpoint") in _verbs(result)
    # Autoscaling is detached around the roll (AWS refuses to change an autoscaled variant's type).
    m = calls.mutating
    assert m.index("DeregisterScalableTarget") < m.index("UpdateEndpoint") < m.index("RegisterScalableTarget")
    assert m.index("DeleteScalingPolicy") < m.index("DeregisterScalableTarget")
    assert m[-1] == "DeleteEndpointConfig"
    state = read_state(aws, "demo")
    assert state.endpoint.config_name == second.config_name
    assert state.configs == [second.config_name]
    assert state.models == [first.model_name] == [second.model_name]  # same image + env: kept
    assert autoscaling.matches(state.scaling, second.scaling)


def test_changed_environment_replaces_model(provisioner, aws, make_spec):
    first = make_spec()
    provisioner.provision(first)
    second = make_spec(context_tokens=8192)
    result = provisioner.provision(second)
    assert ("create", "model") in _verbs(result) and ("delete", "model") in _verbs(result)
    state = read_state(aws, "demo")
    assert state.models == [second.model_name] and state.configs == [second.config_name]
    env = aws.sagemaker.describe_model(ModelName=second.model_name)["PrimaryContainer"]["Environment"]
    assert env["MAX_TOTAL_TOKENS"] == "8192"


def test_max_capacity_change_updates_scaling_without_a_roll(provisioner, aws, calls, make_spec):
    provisioner.provision(make_spec())
    calls.calls.clear()
    result = provisioner.provision(make_spec(max_capacity=8))
    assert _verbs(result) == [("update", "scalable-target")]
    assert calls.mutating == ["RegisterScalableTarget"]
    assert read_state(aws, "demo").scaling.max_capacity == 8


def test_target_value_change_updates_policy_only(provisioner, calls, make_spec):
    provisioner.provision(make_spec())
    calls.calls.clear()
    result = provisioner.provision(make_spec(target_invocations=100))
    assert _verbs(result) == [("update", "scaling-policy")]
    assert calls.mutating == ["PutScalingPolicy"]


def test_dry_run_plans_but_calls_no_mutating_api(provisioner, aws, calls, make_spec):
    result = provisioner.provision(make_spec(), dry_run=True)
    assert result.dry_run and len(_verbs(result)) == 5
    assert calls.mutating == []
    assert read_state(aws, "demo").empty
    provisioner.provision(make_spec())
    calls.calls.clear()
    plan = provisioner.provision(make_spec(instance="ml.inf2.8xlarge"), dry_run=True)
    assert ("update", "endpoint") in _verbs(plan)
    teardown = provisioner.deprovision("demo", dry_run=True)
    assert [a.kind for a in teardown.actions] == [
        "scaling-policy",
        "scalable-target",
        "endpoint",
        "endpoint-config",
        "model",
    ]
    assert calls.mutating == []


def test_deprovision_removes_everything_and_is_idempotent(provisioner, aws, make_spec):
    provisioner.provision(make_spec())
    provisioner.provision(make_spec(instance="ml.inf2.8xlarge"))
    result = provisioner.deprovision("demo")
    assert all(a.verb == "delete" for a in result.actions)
    assert read_state(aws, "demo").empty
    assert aws.sagemaker.list_models()["Models"] == []
    assert aws.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []
    again = provisioner.deprovision("demo")
    assert again.actions == [] and not again.changed


def test_deprovision_leaves_other_endpoints_alone(provisioner, aws, make_spec):
    provisioner.provision(make_spec("demo"))
    provisioner.provision(make_spec("demo-2"))
    provisioner.deprovision("demo")
    other = read_state(aws, "demo-2")
    assert other.endpoint is not None and other.models and other.configs and other.scaling


def test_endpoints_not_created_by_strata_are_refused(provisioner, aws, make_spec):
    sm = aws.sagemaker
    sm.create_model(ModelName="hand-made", ExecutionRoleArn="arn:aws:iam::123456789012:role/x")
    sm.create_endpoint_config(
        EndpointConfigName="hand-made",
        ProductionVariants=[
            {
                "VariantName": "v",
                "ModelName": "hand-made",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName="demo", EndpointConfigName="hand-made")
    with pytest.raises(ConfigurationError, match="not created by strata"):
        provisioner.provision(make_spec())
    with pytest.raises(ConfigurationError, match="not created by strata"):
        provisioner.deprovision("demo")
    assert sm.describe_endpoint(EndpointName="demo")["EndpointConfigName"] == "hand-made"


def test_failed_endpoint_is_replaced(provisioner, aws, make_spec, moto_endpoint):
    spec = make_spec()
    provisioner.provision(spec)
    moto_endpoint("demo").endpoint_status = "Failed"
    result = provisioner.provision(spec)
    assert ("delete", "endpoint") in _verbs(result) and ("create", "endpoint") in _verbs(result)
    assert aws.sagemaker.describe_endpoint(EndpointName="demo")["EndpointStatus"] == "InService"
