"""ComputeStack: one spec drives both paths, Neuron timeouts, scaling bounds, least-privilege roles.

The agreement test provisions each endpoint of the context with the provisioner itself (against
moto, as ``strata provision --mock`` does) from the same CLI-level input, then compares what
SageMaker and Application Auto Scaling were given with what the template declares.
"""

from __future__ import annotations

import pytest

from cdk.compute import image_repository_arn
from infrastructure.provisioner.aws import make_clients
from infrastructure.provisioner.offline import mocked_aws
from infrastructure.provisioner.provisioner import Provisioner
from infrastructure.provisioner.serving import recommended_instance
from infrastructure.provisioner.spec import ModelRequest, build_spec

pytestmark = pytest.mark.cdk
ROLE = "arn:aws:iam::123456789012:role/strata-sagemaker"
STACK = "StrataCompute"


def _by_endpoint(synth, type_: str) -> dict[str, dict]:
    """Resources of ``type_`` keyed by the endpoint they belong to (their logical id's prefix)."""
    names = sorted((e.name for e in synth.settings.endpoints), key=len, reverse=True)
    out = {}
    for logical, res in synth.resources(STACK, type_).items():
        name = next(n for n in names if logical.startswith(f"Endpoint{n.replace('-', '')}"))
        out[name] = res["Properties"]
    return out


def _provision(entry, region: str) -> dict:
    """What the provisioner sends AWS for ``entry`` (the CLI's own defaults), read back from moto."""
    req = ModelRequest(entry.model, entry.tp, entry.context_tokens, entry.concurrency)
    instance = entry.instance or recommended_instance(req)
    spec = build_spec(
        entry.name,
        req,
        instance,
        region=region,
        role_arn=ROLE,
        server=entry.server,
        min_capacity=entry.min_capacity,
        max_capacity=entry.max_capacity,
        target_invocations=entry.target_invocations,
        extra_env=entry.env or None,
    )
    with mocked_aws():
        aws = make_clients(region)
        Provisioner(aws, poll_interval=0, timeout=5).provision(spec)
        sm, scaling = aws.sagemaker, aws.autoscaling
        model = sm.describe_model(ModelName=spec.model_name)
        config = sm.describe_endpoint_config(EndpointConfigName=spec.config_name)
        target = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
        policy = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"][0]
        component = (
            sm.describe_inference_component(InferenceComponentName=spec.component_name)
            if spec.uses_components
            else None
        )
    return {"model": model, "config": config, "target": target, "policy": policy, "component": component}


@pytest.mark.parametrize("synth_name", ["default_synth", "full_synth"])
def test_template_and_provisioner_build_the_same_endpoints(synth_name, request):
    synth = request.getfixturevalue(synth_name)
    models = _by_endpoint(synth, "AWS::SageMaker::Model")
    configs = _by_endpoint(synth, "AWS::SageMaker::EndpointConfig")
    targets = _by_endpoint(synth, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = _by_endpoint(synth, "AWS::ApplicationAutoScaling::ScalingPolicy")
    for entry in synth.settings.endpoints:
        aws = _provision(entry, synth.settings.region)
        container = aws["model"]["PrimaryContainer"]
        assert models[entry.name]["PrimaryContainer"]["Image"] == container["Image"]
        assert models[entry.name]["PrimaryContainer"]["Environment"] == container["Environment"]
        want = aws["config"]["ProductionVariants"][0]
        have = configs[entry.name]["ProductionVariants"][0]
        for key in (
            "InstanceType",
            "InitialInstanceCount",
            "ContainerStartupHealthCheckTimeoutInSeconds",
            "ModelDataDownloadTimeoutInSeconds",
            "ManagedInstanceScaling",
            "RoutingConfig",
        ):
            assert have.get(key) == want.get(key), (entry.name, key)
        t = targets[entry.name]
        assert (t["ResourceId"], t["ScalableDimension"]) == (
            aws["target"]["ResourceId"],
            aws["target"]["ScalableDimension"],
        )
        assert (t["MinCapacity"], t["MaxCapacity"]) == (
            aws["target"]["MinCapacity"],
            aws["target"]["MaxCapacity"],
        )
        tt = policies[entry.name]["TargetTrackingScalingPolicyConfiguration"]
        aws_tt = aws["policy"]["TargetTrackingScalingPolicyConfiguration"]
        assert tt["TargetValue"] == aws_tt["TargetValue"]
        assert tt["PredefinedMetricSpecification"] == aws_tt["PredefinedMetricSpecification"]
        if aws["component"] is not None:
            ic = next(iter(synth.resources(STACK, "AWS::SageMaker::InferenceComponent").values()))[
                "Properties"
            ]
            spec = aws["component"]["Specification"]
            reqs = ic["Specification"]["ComputeResourceRequirements"]
            assert (
                reqs["NumberOfAcceleratorDevicesRequired"]
                == spec["ComputeResourceRequirements"]["NumberOfAcceleratorDevicesRequired"]
            )
            assert ic["InferenceComponentName"] == aws["component"]["InferenceComponentName"]


def test_default_is_the_planners_neuron_row(default_synth):
    """The default endpoint: the planner's pick for Qwen2.5 7B, a Neuron TGI container, long timeouts."""
    entry = default_synth.settings.endpoints[0]
    spec = entry.spec(default_synth.settings.region)
    assert entry.instance is None and spec.instance_type == "ml.inf2.xlarge"
    tpl = default_synth.template(STACK)
    tpl.resource_count_is("AWS::SageMaker::Endpoint", 1)
    tpl.resource_count_is("AWS::SageMaker::InferenceComponent", 0)
    tpl.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                {
                    "InstanceType": "ml.inf2.xlarge",
                    "InitialInstanceCount": 1,
                    "ContainerStartupHealthCheckTimeoutInSeconds": 1800,
                }
            ]
        },
    )
    env = next(iter(default_synth.resources(STACK, "AWS::SageMaker::Model").values()))["Properties"]
    env = env["PrimaryContainer"]["Environment"]
    assert env["HF_NUM_CORES"] == str(spec.container.environment["HF_NUM_CORES"]) == "2"
    assert "neuronx" in spec.container.image
    tpl.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": 1, "MaxCapacity": 4, "ResourceId": "endpoint/strata-chat/variant/AllTraffic"},
    )
    tpl.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                }
            }
        },
    )


def test_gpu_copies_become_an_inference_component(full_synth):
    tpl = full_synth.template(STACK)
    tpl.resource_count_is("AWS::SageMaker::Endpoint", 2)
    tpl.resource_count_is("AWS::SageMaker::InferenceComponent", 1)
    tpl.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                {
                    "InstanceType": "ml.g5.12xlarge",
                    "ManagedInstanceScaling": {
                        "Status": "ENABLED",
                        "MinInstanceCount": 1,
                        "MaxInstanceCount": 3,
                    },
                }
            ]
        },
    )
    tpl.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ResourceId": "inference-component/strata-small-ic",
            "MinCapacity": 4,
            "MaxCapacity": 12,
            "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount",
        },
    )


def test_execution_roles_are_scoped_to_their_image_and_logs(full_synth):
    policies = full_synth.resources(STACK, "AWS::IAM::Policy")
    assert len(policies) == len(full_synth.settings.endpoints)
    for entry in full_synth.settings.endpoints:
        spec = entry.spec(full_synth.settings.region)
        (policy,) = [p for k, p in policies.items() if k.startswith(f"Endpoint{entry.name.replace('-', '')}")]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        for st in statements:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert not any(a.endswith("*") for a in actions), st  # no wildcard actions
            if st["Resource"] == "*":
                assert actions == ["ecr:GetAuthorizationToken"]  # the one action AWS scopes to "*" only
        pulls = [s for s in statements if "ecr:BatchGetImage" in s["Action"]]
        assert pulls[0]["Resource"] == image_repository_arn(spec.container.image)
        assert not any(a.startswith("s3:") for s in statements for a in s["Action"])


def test_image_repository_arn():
    uri = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.30.0-lmi12.0.0-cu124"
    assert image_repository_arn(uri) == "arn:aws:ecr:us-east-1:763104351884:repository/djl-inference"
    cn = "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/djl-inference:x"
    assert image_repository_arn(cn) == "arn:aws-cn:ecr:cn-north-1:727897471807:repository/djl-inference"
