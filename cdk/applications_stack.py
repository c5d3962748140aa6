"""ApplicationsStack (layer 3): the sample apps as ECS services that reach the gateway only by URL.

Each app is a service from the gateway's image (which installs ``applications/``) with its own
command (``cdk.json``'s ``strata:applications``: the shopping assistant's ``strata shop serve``;
the coding companion, a command-line tool, as a task definition run on demand with
``desired_count: 0``), the gateway URL and a gateway API key from Secrets Manager in the variables
the app reads (``STRATA_SHOP_URL`` / ``STRATA_SHOP_API_KEY``, ...). The key is
issued by the gateway (``POST /strata/v1/admin/tenants/{id}/keys`` or ``strata keys create``) and
put into the app's secret after the first deploy; until then the secret holds a random value the
gateway rejects. The apps get no database, cache or model permissions: the gateway is their only
way to a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk.nag import acknowledge
from cdk.settings import AppSettings


class ApplicationsStack(cdk.Stack):
    """Layer 3. Takes the model layer's cluster, image and URL as props."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        apps: Sequence[AppSettings],
        cluster: ecs.ICluster,
        image: ecs.ContainerImage,
        gateway_url: str,
        log_retention_days: int = 30,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.services: dict[str, ecs.FargateService] = {}
        self.api_keys: dict[str, secretsmanager.Secret] = {}
        for app in apps:
            key = secretsmanager.Secret(
                self,
                f"{app.name}-ApiKey",
                description=f"gateway API key of the {app.name} app (set after deploy)",
            )
            acknowledge(
                key,
                "AwsSolutions-SMG4",
                "the value is a gateway API key issued by the gateway's admin API; it is rotated there "
                "(strata keys rotate) and then written here, not by a Secrets Manager rotation Lambda",
            )
            self.api_keys[app.name] = key
            self.services[app.name] = self._service(app, cluster, image, gateway_url, key, log_retention_days)

    def _service(
        self, app: AppSettings, cluster, image, gateway_url, key, retention: int
    ) -> ecs.FargateService:
        task = ecs.FargateTaskDefinition(
            self, f"{app.name}-Task", cpu=app.cpu, memory_limit_mib=app.memory_mib
        )
        log_group = logs.LogGroup(self, f"{app.name}-Logs", removal_policy=cdk.RemovalPolicy.DESTROY)
        log_group.node.default_child.retention_in_days = retention
        task.add_container(
            app.name,
            image=image,
            entry_point=list(app.command[:1]),  # replaces the image's ENTRYPOINT (the runtime's)
            command=list(app.command[1:]),
            environment={app.url_env: gateway_url},
            secrets={app.key_env: ecs.Secret.from_secrets_manager(key)},
            logging=ecs.LogDrivers.aws_logs(stream_prefix=app.name, log_group=log_group),
        )
        acknowledge(
            task,
            "AwsSolutions-ECS2",
            "the only plain variable is the gateway's public URL; the API key comes from Secrets Manager",
        )
        acknowledge(
            task.obtain_execution_role(),
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken (added by CDK to pull the image) supports no resource-level "
            "permissions; the image pull itself is scoped to the asset repository",
        )
        return ecs.FargateService(
            self,
            f"{app.name}-Service",
            cluster=cluster,
            task_definition=task,
            desired_count=app.desired_count,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100,
        )
