"""Several model copies per instance: one inference component, converged and torn down against moto."""

from __future__ import annotations

import pytest

from infrastructure.provisioner.provisioner import ProvisionError
from infrastructure.provisioner.state import read_state

INF2_48 = "ml.inf2.48xlarge"  # the planner puts Llama-3.1-8B there as 2 copies of tp=12 (16 x 8192)


def _verbs(result) -> list[tuple[str, str]]:
    return [(a.verb, a.kind) for a in result.actions if a.mutating]


def _spec(make_spec, **kw):
    return make_spec(instance=INF2_48, **({"context_tokens": None, "concurrency": None} | kw))


def test_first_run_creates_the_component_and_scales_its_copies(provisioner, aws, make_spec):
    spec = _spec(make_spec)
    assert spec.placement.copies == 2
    result = provisioner.provision(spec)
    assert _verbs(result) == [
        ("create", "model"),
        ("create", "endpoint-config"),
        ("create", "endpoint"),
        ("create", "inference-component"),
        ("create", "scalable-target"),
        ("create", "scaling-policy"),
    ]
    ic = aws.sagemaker.describe_inference_component(InferenceComponentName="demo-ic")
    assert ic["InferenceComponentStatus"] == "InService" and ic["EndpointName"] == "demo"
    assert ic["Specification"]["ModelName"] == spec.model_name
    assert ic["Specification"]["ComputeResourceRequirements"]["NumberOfAcceleratorDevicesRequired"] == 6
    variant = aws.sagemaker.describe_endpoint_config(EndpointConfigName=spec.config_name)[
        "ProductionVariants"
    ][0]
    assert "ModelName" not in variant and variant["ManagedInstanceScaling"]["MaxInstanceCount"] == 4
    target = aws.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
    assert target["ResourceId"] == "inference-component/demo-ic"
    assert target["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 8)  # 1..4 instances x 2 copies


def test_rerun_changes_nothing(provisioner, calls, make_spec):
    provisioner.provision(_spec(make_spec))
    calls.calls.clear()
    again = provisioner.provision(_spec(make_spec))
    assert not again.changed and calls.mutating == []


def test_new_model_updates_the_component_in_place(provisioner, aws, make_spec):
    first = _spec(make_spec)
    provisioner.provision(first)
    second = _spec(make_spec, extra_env={"LOG_LEVEL": "debug"})
    assert second.config_name == first.config_name and second.model_name != first.model_name
    result = provisioner.provision(second)
    assert _verbs(result) == [("create", "model"), ("update", "inference-component"), ("delete", "model")]
    ic = aws.sagemaker.describe_inference_component(InferenceComponentName="demo-ic")
    assert ic["Specification"]["ModelName"] == second.model_name
    assert read_state(aws, "demo").models == [second.model_name]


def test_switching_between_one_and_several_copies_recreates_the_endpoint(provisioner, aws, make_spec):
    one = _spec(make_spec, tp=24)  # tp=24 spans all 24 NeuronCores: one copy, no component
    provisioner.provision(one)
    several = _spec(make_spec)
    result = provisioner.provision(several)
    assert ("delete", "endpoint") in _verbs(result) and ("create", "inference-component") in _verbs(result)
    assert ("delete", "scalable-target") in _verbs(result)  # the variant target gives way to the copies'
    state = read_state(aws, "demo")
    assert state.component is not None and state.endpoint_uses_components is True
    assert state.scaling.target == several.scaling.target
    back = provisioner.provision(one)
    assert ("delete", "inference-component") in _verbs(back)
    state = read_state(aws, "demo")
    assert state.component is None and state.endpoint_uses_components is False
    assert state.scaling.target == one.scaling.target and state.configs == [one.config_name]


def test_deprovision_removes_the_component_first(provisioner, aws, make_spec):
    provisioner.provision(_spec(make_spec))
    result = provisioner.deprovision("demo")
    kinds = [a.kind for a in result.actions]
    assert kinds.index("inference-component") < kinds.index("endpoint")
    assert read_state(aws, "demo").empty
    assert aws.sagemaker.list_inference_components()["InferenceComponents"] == []
    assert not provisioner.deprovision("demo").actions


def test_component_that_fails_to_start_rolls_everything_back(provisioner, aws, make_spec):
    def fail(**_):  # moto's components are InService at once; make this one fail as SageMaker would
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sagemaker.models import sagemaker_backends

        store = sagemaker_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]._strata_components
        store["demo-ic"] |= {"InferenceComponentStatus": "Failed", "FailureReason": "not enough accelerators"}

    aws.sagemaker.meta.events.register("after-call.sagemaker.CreateInferenceComponent", fail)
    with pytest.raises(
        ProvisionError, match="inference component demo-ic is Failed: not enough accelerators"
    ):
        provisioner.provision(_spec(make_spec))
    assert read_state(aws, "demo").empty
