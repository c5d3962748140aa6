"""ComputeStack (layer 1): a SageMaker endpoint per entry of the deployment, from the provisioner's spec.

Each endpoint is built from the very :class:`~infrastructure.provisioner.spec.EndpointSpec` that
``strata provision`` converges to — its CreateModel / CreateEndpointConfig / CreateInferenceComponent
requests and its Application Auto Scaling policy — so the container image, environment, health-check
timeouts (long for Neuron compilation), instance type, placement and scaling bounds cannot drift
between the two paths. What differs is naming: CloudFormation names the immutable Model and
EndpointConfig itself (it replaces them on change, as the provisioner does with its content
hashes); the endpoint keeps the spec's name so the gateway can address it.

Each endpoint gets its own execution role that may pull only its own image repository and write
only its own log group; models come from the Hugging Face Hub (``HF_MODEL_ID``), so the role has
no S3 access at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from cdk.nag import acknowledge
from cdk.settings import EndpointSettings
from infrastructure.provisioner.autoscaling import policy_configuration, policy_name
from infrastructure.provisioner.spec import EndpointSpec
from strata.errors import ConfigurationError


@dataclass(frozen=True)
class EndpointOutput:
    """What the model layer needs to route to one endpoint (handed down as props, never looked up)."""

    model_id: str  # the gateway's model id
    endpoint_name: str
    endpoint_arn: str
    component_name: str | None
    instance_type: str


def image_repository_arn(image_uri: str) -> str:
    """``<account>.dkr.ecr.<region>.<domain>/<repo>:<tag>`` -> the repository's ARN."""
    host, _, rest = image_uri.partition("/")
    account, _, _, region, *_ = host.split(".")
    partition = (
        "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov") else "aws"
    )
    return f"arn:{partition}:ecr:{region}:{account}:repository/{rest.partition(':')[0]}"


def _execution_role(scope: Construct, spec: EndpointSpec, log_group: logs.LogGroup) -> iam.Role:
    role = iam.Role(
        scope,
        "ExecutionRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description=f"SageMaker endpoint {spec.name}: pull its serving image, write its logs",
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[image_repository_arn(spec.container.image)],
        )
    )
    # GetAuthorizationToken has no resource-level permissions: AWS only accepts "*" for it.
    role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[log_group.log_group_arn],
        )
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken is the only action on '*'; it supports no resource-level "
        "permissions and grants no access to any repository by itself",
    )
    return role


def _variant(spec: EndpointSpec, model_name: str) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    v = spec.create_endpoint_config_request()["ProductionVariants"][0]
    managed = v.get("ManagedInstanceScaling")
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name=v["VariantName"],
        instance_type=v["InstanceType"],
        initial_instance_count=v["InitialInstanceCount"],
        model_name=model_name if "ModelName" in v else None,
        initial_variant_weight=v.get("InitialVariantWeight"),
        container_startup_health_check_timeout_in_seconds=v.get(
            "ContainerStartupHealthCheckTimeoutInSeconds"
        ),
        model_data_download_timeout_in_seconds=v.get("ModelDataDownloadTimeoutInSeconds"),
        managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
            status=managed["Status"],
            min_instance_count=managed["MinInstanceCount"],
            max_instance_count=managed["MaxInstanceCount"],
        )
        if managed
        else None,
        routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
            routing_strategy=v["RoutingConfig"]["RoutingStrategy"]
        )
        if "RoutingConfig" in v
        else None,
    )


def _component(scope: Construct, spec: EndpointSpec, endpoint: sagemaker.CfnEndpoint, model_name: str):
    req = spec.create_inference_component_request()
    s = req["Specification"]
    ic = sagemaker.CfnInferenceComponent
    return ic(
        scope,
        "InferenceComponent",
        inference_component_name=req["InferenceComponentName"],
        endpoint_name=endpoint.attr_endpoint_name,
        variant_name=req["VariantName"],
        specification=ic.InferenceComponentSpecificationProperty(
            model_name=model_name,
            startup_parameters=ic.InferenceComponentStartupParametersProperty(
                container_startup_health_check_timeout_in_seconds=s["StartupParameters"][
                    "ContainerStartupHealthCheckTimeoutInSeconds"
                ],
                model_data_download_timeout_in_seconds=s["StartupParameters"][
                    "ModelDataDownloadTimeoutInSeconds"
                ],
            ),
            compute_resource_requirements=ic.InferenceComponentComputeResourceRequirementsProperty(
                number_of_accelerator_devices_required=s["ComputeResourceRequirements"][
                    "NumberOfAcceleratorDevicesRequired"
                ],
                min_memory_required_in_mb=s["ComputeResourceRequirements"]["MinMemoryRequiredInMb"],
            ),
        ),
        runtime_config=ic.InferenceComponentRuntimeConfigProperty(
            copy_count=req["RuntimeConfig"]["CopyCount"]
        ),
    )


def _scaling(scope: Construct, spec: EndpointSpec, after: cdk.CfnResource) -> None:
    s = spec.scaling
    # No RoleARN: Application Auto Scaling uses its SageMaker service-linked role.
    target = appscaling.CfnScalableTarget(
        scope,
        "ScalableTarget",
        service_namespace="sagemaker",
        resource_id=s.target.resource_id,
        scalable_dimension=s.target.dimension,
        min_capacity=s.min_capacity,
        max_capacity=s.max_capacity,
    )
    target.node.add_dependency(after)  # the endpoint (or component) must exist before it can be scaled
    conf = policy_configuration(s)
    appscaling.CfnScalingPolicy(
        scope,
        "ScalingPolicy",
        policy_name=policy_name(spec.name),
        policy_type="TargetTrackingScaling",
        scaling_target_id=target.ref,
        target_tracking_scaling_policy_configuration=appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
            target_value=conf["TargetValue"],
            predefined_metric_specification=appscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                predefined_metric_type=conf["PredefinedMetricSpecification"]["PredefinedMetricType"]
            ),
            scale_in_cooldown=conf["ScaleInCooldown"],
            scale_out_cooldown=conf["ScaleOutCooldown"],
        ),
    )


class Endpoint(Construct):
    """One strata endpoint: role, log group, Model, EndpointConfig, Endpoint, component, scaling."""

    def __init__(self, scope: Construct, id: str, spec: EndpointSpec, *, log_retention_days: int):
        super().__init__(scope, id)
        self.spec = spec
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/sagemaker/Endpoints/{spec.name}",
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        log_group.node.default_child.retention_in_days = log_retention_days
        role = _execution_role(self, spec, log_group)
        model_req = spec.create_model_request()
        container = model_req["PrimaryContainer"]
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=container["Image"], environment=container["Environment"]
            ),
        )
        # SageMaker checks the role's permissions when the model is created.
        self.model.node.add_dependency(role)
        self.config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[_variant(spec, self.model.attr_model_name)],
            execution_role_arn=role.role_arn if spec.uses_components else None,
        )
        if spec.uses_components:
            self.config.node.add_dependency(role)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=spec.name,
            endpoint_config_name=self.config.attr_endpoint_config_name,
        )
        self.component = None
        if spec.uses_components:
            self.component = _component(self, spec, self.endpoint, self.model.attr_model_name)
        _scaling(self, spec, self.component or self.endpoint)


class ComputeStack(cdk.Stack):
    """Layer 1: the deployment's SageMaker endpoints. References nothing above it."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoints: tuple[EndpointSettings, ...],
        region: str,
        log_retention_days: int = 30,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        retention = _retention(log_retention_days)
        self.endpoints: list[Endpoint] = []
        self.outputs: list[EndpointOutput] = []
        for entry in endpoints:
            spec = entry.spec(region)
            ep = Endpoint(self, f"Endpoint-{spec.name}", spec, log_retention_days=retention)
            self.endpoints.append(ep)
            self.outputs.append(
                EndpointOutput(
                    entry.gateway_model_id,
                    spec.name,
                    ep.endpoint.attr_endpoint_arn,
                    spec.component_name if spec.uses_components else None,
                    spec.instance_type,
                )
            )
            cdk.CfnOutput(self, f"EndpointName{len(self.outputs)}", value=spec.name)


RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


def _retention(days: int) -> int:
    if days not in RETENTION_DAYS:
        raise ConfigurationError(f"log_retention_days {days} is not a CloudWatch Logs retention period")
    return days
