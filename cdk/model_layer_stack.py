"""ModelLayerStack (layer 2): the gateway on ECS Fargate behind an ALB, with its state and monitoring.

The image is the repo's Dockerfile; the container runs ``strata serve`` through
:func:`~cdk.gateway_config.boot_command` with a ``strata.toml`` generated from the props (the
endpoints ComputeStack made, Bedrock model ids). Replicas share Aurora PostgreSQL and Redis
(:mod:`cdk.data`). The public listener forwards everything except ``/metrics``, which it answers
with a 404 itself (the gateway also keeps ``/metrics`` off its main port unless a token is set).
The task role may invoke only the deployment's endpoints and Bedrock models and read only the
knowledge-base bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk import bedrock_managed, data
from cdk.compute import EndpointOutput
from cdk.gateway_config import GATEWAY_PORT, RoutedEndpoint, boot_command, render_strata_toml
from cdk.monitoring import gateway_monitoring
from cdk.nag import acknowledge
from cdk.settings import GatewaySettings

REPO_ROOT = Path(__file__).resolve().parent.parent
HEALTH_PATH = "/health"
METRICS_PATHS = ["/metrics", "/metrics/*"]
HEALTH_PROBE = (
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{GATEWAY_PORT}{HEALTH_PATH}')"
)
# Streamed answers can be quiet between events for up to the gateway's request timeout (120 s);
# the ALB's default idle timeout (60 s) would cut them.
ALB_IDLE_TIMEOUT_S = 300


class ModelLayerStack(cdk.Stack):
    """Layer 2. Takes ComputeStack's endpoint outputs as props; references nothing above it."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoints: Sequence[EndpointOutput],
        gateway: GatewaySettings,
        region: str,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.settings = gateway
        self.vpc = data.network(self)
        self.keystore_seed = data.generated_secret(
            self, "KeystoreSeed", "strata key-store sealing key seed", 43
        )
        self.admin_token = data.generated_secret(self, "AdminToken", "strata admin API bearer token", 48)
        redis_auth = data.generated_secret(self, "RedisAuth", "strata Redis AUTH token", 64)
        self.db = data.database(self, self.vpc, gateway)
        self.redis, redis_sg = data.redis(self, self.vpc, redis_auth, gateway)
        self.access_logs, self.kb_bucket = data.buckets(self)
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        self.image = gateway_image()
        toml = render_strata_toml(
            [RoutedEndpoint(e.model_id, e.endpoint_name, e.component_name) for e in endpoints],
            region=region,
            bedrock_models=gateway.bedrock_models,
        )
        self.strata_toml = toml
        task = self._task(toml, redis_auth, endpoints)
        self.alb, self.listener, alb_sg = self._load_balancer()
        self.service = self._service(task, alb_sg)
        self.db.connections.allow_default_port_from(self.service, "gateway to PostgreSQL")
        redis_sg.add_ingress_rule(
            self.service.connections.security_groups[0], ec2.Port.tcp(data.REDIS_PORT), "gateway to Redis"
        )
        scheme = "https" if gateway.certificate_arn else "http"
        self.gateway_url = f"{scheme}://{self.alb.load_balancer_dns_name}"
        self.log_group: logs.LogGroup
        gateway_monitoring(self, self.alb, self.service, self.log_group)
        self.guardrail = bedrock_managed.guardrail(self) if gateway.guardrail else None
        self.knowledge_base = None
        if gateway.knowledge_base:
            self.knowledge_base, _ = bedrock_managed.knowledge_base(
                self, self.kb_bucket, gateway.embedding_model_arn, gateway.embedding_dimensions
            )
            cdk.CfnOutput(self, "BedrockKnowledgeBaseId", value=self.knowledge_base.attr_knowledge_base_id)
        if self.guardrail is not None:
            cdk.CfnOutput(self, "BedrockGuardrailId", value=self.guardrail.attr_guardrail_id)
        cdk.CfnOutput(self, "GatewayUrl", value=self.gateway_url)
        cdk.CfnOutput(self, "AdminTokenSecret", value=self.admin_token.secret_arn)
        cdk.CfnOutput(self, "KnowledgeBaseBucket", value=self.kb_bucket.bucket_name)

    def _environment(self, toml: str) -> dict[str, str]:
        g = self.settings
        env = {
            "STRATA_TOML": toml,
            "STRATA_REGION": cdk.Stack.of(self).region,
            "STRATA_ACCOUNT_ID": cdk.Stack.of(self).account,  # the account in the ARNs the gateway returns
            "STRATA_ACCESS_LOG": "true",
            # The ALB is the only peer; trust its X-Forwarded-* (the tasks sit in private subnets).
            "STRATA_FORWARDED_ALLOW_IPS": "*",
            "REDIS_HOST": self.redis.attr_primary_end_point_address,
            "REDIS_PORT": str(data.REDIS_PORT),
        }
        if g.chroma_url:
            env["STRATA_KB_CHROMA_URL"] = g.chroma_url
        return env

    def _secrets(self, redis_auth) -> dict[str, ecs.Secret]:
        db_secret = self.db.secret
        assert db_secret is not None  # generated credentials always have one
        field = ecs.Secret.from_secrets_manager
        return {
            "DB_USER": field(db_secret, "username"),
            "DB_PASSWORD": field(db_secret, "password"),
            "DB_HOST": field(db_secret, "host"),
            "DB_PORT": field(db_secret, "port"),
            "DB_NAME": field(db_secret, "dbname"),
            "REDIS_AUTH": field(redis_auth),
            "STRATA_KEYSTORE_SEED": field(self.keystore_seed),
            "STRATA_ADMIN_TOKEN": field(self.admin_token),
        }

    def _task(self, toml: str, redis_auth, endpoints: Sequence[EndpointOutput]) -> ecs.FargateTaskDefinition:
        g = self.settings
        task = ecs.FargateTaskDefinition(self, "GatewayTask", cpu=g.cpu, memory_limit_mib=g.memory_mib)
        self.log_group = logs.LogGroup(self, "GatewayLogs", removal_policy=cdk.RemovalPolicy.DESTROY)
        self.log_group.node.default_child.retention_in_days = g.log_retention_days
        task.add_container(
            "gateway",
            image=self.image,
            # The image's ENTRYPOINT is the runtime's; replace it outright rather than relying on an
            # empty entry point clearing it.
            entry_point=boot_command()[:2],
            command=boot_command()[2:],
            environment=self._environment(toml),
            secrets=self._secrets(redis_auth),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="gateway", log_group=self.log_group),
            port_mappings=[ecs.PortMapping(container_port=GATEWAY_PORT)],
            # The image's own HEALTHCHECK probes the runtime's port (8080); the gateway answers on its own.
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-c", HEALTH_PROBE], start_period=cdk.Duration.seconds(60)
            ),
            readonly_root_filesystem=False,  # $STRATA_HOME holds the generated strata.toml and usage spool
        )
        _grant_models(task.task_role, endpoints, g.bedrock_models)
        task.task_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.kb_bucket.bucket_arn])
        )
        task.task_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.kb_bucket.arn_for_objects("*")])
        )
        bucket_id = self.get_logical_id(self.kb_bucket.node.default_child)
        acknowledge(
            task.task_role,
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/*]",
            "knowledge-base ingestion reads any object under the one knowledge-base source bucket "
            "(s3:GetObject only); object keys are the tenant's documents and not known at deploy time",
        )
        acknowledge(
            task,
            "AwsSolutions-ECS2",
            "the plain environment holds only non-secret settings (generated strata.toml, region, Redis "
            "host); every secret is injected from Secrets Manager through the container's secrets",
        )
        acknowledge(
            task.obtain_execution_role(),
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken (added by CDK to pull the gateway image) supports no resource-level "
            "permissions; the image pull itself is scoped to the asset repository",
        )
        return task

    def _load_balancer(self):
        g = self.settings
        sg = ec2.SecurityGroup(
            self, "AlbSg", vpc=self.vpc, allow_all_outbound=False, description="gateway load balancer"
        )
        port = 443 if g.certificate_arn else 80
        sg.add_ingress_rule(ec2.Peer.ipv4(g.ingress_cidr), ec2.Port.tcp(port), "clients to the gateway")
        acknowledge(
            sg,
            "AwsSolutions-EC23",
            "the gateway is a public API (Bedrock- and OpenAI-compatible); every request is authenticated "
            "by SigV4 or an API key, and ingress_cidr in cdk.json narrows who can connect",
        )
        alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=self.vpc,
            internet_facing=True,
            security_group=sg,
            drop_invalid_header_fields=True,
            idle_timeout=cdk.Duration.seconds(ALB_IDLE_TIMEOUT_S),
        )
        alb.log_access_logs(self.access_logs, prefix="alb")
        if g.certificate_arn:
            listener = alb.add_listener(
                "Https",
                port=443,
                certificates=[elbv2.ListenerCertificate.from_arn(g.certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=False,
            )
        else:
            listener = alb.add_listener("Http", port=80, open=False)
            cdk.Annotations.of(self).add_warning_v2(
                "strata:no-certificate",
                "no certificate_arn in cdk.json: the gateway listens on plain HTTP; set one for HTTPS",
            )
        return alb, listener, sg

    def _service(self, task: ecs.FargateTaskDefinition, alb_sg: ec2.SecurityGroup) -> ecs.FargateService:
        g = self.settings
        service = ecs.FargateService(
            self,
            "Gateway",
            cluster=self.cluster,
            task_definition=task,
            desired_count=g.desired_count,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100,
            # Migrations run on start (under a lock) before the first /health answers.
            health_check_grace_period=cdk.Duration.seconds(120),
        )
        self.target_group = self.listener.add_targets(
            "Gateway",
            port=GATEWAY_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[service],
            health_check=elbv2.HealthCheck(
                path=HEALTH_PATH,
                healthy_http_codes="200",
                interval=cdk.Duration.seconds(15),
                timeout=cdk.Duration.seconds(5),
            ),
            deregistration_delay=cdk.Duration.seconds(30),
        )
        # /metrics never reaches a task through the public listener.
        self.listener.add_action(
            "NoMetrics",
            priority=1,
            conditions=[elbv2.ListenerCondition.path_patterns(METRICS_PATHS)],
            action=elbv2.ListenerAction.fixed_response(
                404, content_type="text/plain", message_body="Not Found"
            ),
        )
        scaling = service.auto_scale_task_count(min_capacity=g.desired_count, max_capacity=g.max_count)
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)
        return service


def gateway_image() -> ecs.ContainerImage:
    """The repo's Dockerfile (its .dockerignore keeps the context to the installed sources)."""
    return ecs.ContainerImage.from_asset(str(REPO_ROOT), file="Dockerfile")


def _grant_models(
    role: iam.IRole, endpoints: Sequence[EndpointOutput], bedrock_models: Sequence[str]
) -> None:
    if endpoints:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
                resources=[e.endpoint_arn for e in endpoints],
            )
        )
    if bedrock_models:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=[
                    cdk.Stack.of(role).format_arn(
                        service="bedrock", account="", resource="foundation-model", resource_name=m
                    )
                    for m in bedrock_models
                ],
            )
        )
