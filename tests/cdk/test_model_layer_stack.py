"""ModelLayerStack: the gateway service, its ALB (no /metrics), state encrypted and reachable only by it."""

from __future__ import annotations

import tomllib

import pytest
from aws_cdk.assertions import Match

from cdk.gateway_config import GATEWAY_PORT, boot_command
from model_layer.config import parse_config

pytestmark = pytest.mark.cdk
STACK = "StrataModelLayer"


def _gateway_container(synth) -> dict:
    (task,) = synth.resources(STACK, "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    return container


def _env(container: dict) -> dict:
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def test_resource_counts_and_sizes(default_synth):
    tpl = default_synth.template(STACK)
    for type_, count in {
        "AWS::ECS::Cluster": 1,
        "AWS::ECS::Service": 1,
        "AWS::ECS::TaskDefinition": 1,
        "AWS::ElasticLoadBalancingV2::LoadBalancer": 1,
        "AWS::ElasticLoadBalancingV2::Listener": 1,
        "AWS::RDS::DBCluster": 1,
        "AWS::RDS::DBInstance": 2,
        "AWS::ElastiCache::ReplicationGroup": 1,
        "AWS::SecretsManager::Secret": 4,
        "AWS::S3::Bucket": 2,
        "AWS::CloudWatch::Alarm": 3,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::Bedrock::Guardrail": 0,
        "AWS::Bedrock::KnowledgeBase": 0,
    }.items():
        tpl.resource_count_is(type_, count)
    tpl.has_resource_properties("AWS::ECS::TaskDefinition", {"Cpu": "1024", "Memory": "4096"})
    tpl.has_resource_properties("AWS::ECS::Service", {"DesiredCount": 2, "LaunchType": "FARGATE"})
    tpl.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": 2, "MaxCapacity": 6, "ScalableDimension": "ecs:service:DesiredCount"},
    )
    tpl.has_resource_properties(
        "AWS::RDS::DBCluster",
        {
            "Engine": "aurora-postgresql",
            "StorageEncrypted": True,
            "DeletionProtection": True,
            "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 4},
        },
    )
    tpl.has_resource_properties("AWS::RDS::DBClusterParameterGroup", {"Parameters": {"rds.force_ssl": "1"}})
    tpl.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {
            "CacheNodeType": "cache.t4g.small",
            "NumCacheClusters": 2,
            "MultiAZEnabled": True,
            "AtRestEncryptionEnabled": True,
            "TransitEncryptionEnabled": True,
            "AuthToken": Match.any_value(),
        },
    )


def test_buckets_private_encrypted_tls_only(default_synth):
    tpl = default_synth.template(STACK)
    for props in (b["Properties"] for b in default_synth.resources(STACK, "AWS::S3::Bucket").values()):
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    deny_http = {"Effect": "Deny", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    policies = default_synth.resources(STACK, "AWS::S3::BucketPolicy")
    assert len(policies) == 2
    tpl.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like(deny_http)])}},
    )


def test_public_listener_never_forwards_metrics(default_synth, full_synth):
    for synth, port, protocol in ((default_synth, 80, "HTTP"), (full_synth, 443, "HTTPS")):
        tpl = synth.template(STACK)
        tpl.has_resource_properties(
            "AWS::ElasticLoadBalancingV2::Listener", {"Port": port, "Protocol": protocol}
        )
        tpl.has_resource_properties(
            "AWS::ElasticLoadBalancingV2::ListenerRule",
            {
                "Priority": 1,
                "Conditions": [
                    {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/metrics", "/metrics/*"]}}
                ],
                "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
            },
        )
        # Nothing else routes by path: every other request goes to the gateway's target group.
        assert len(synth.resources(STACK, "AWS::ElasticLoadBalancingV2::ListenerRule")) == 1
    full = full_synth.template(STACK)
    full.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Certificates": [{"CertificateArn": Match.string_like_regexp("^arn:aws:acm:")}],
            "SslPolicy": Match.string_like_regexp("TLS13"),
        },
    )


def test_health_check_and_target_group(default_synth):
    tpl = default_synth.template(STACK)
    tpl.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "LoadBalancerAttributes": Match.array_with(
                [{"Key": "idle_timeout.timeout_seconds", "Value": "300"}]
            )
        },
    )
    tpl.has_resource_properties("AWS::ECS::Service", {"HealthCheckGracePeriodSeconds": 120})
    health = _gateway_container(default_synth)["HealthCheck"]["Command"]
    assert health[:2] == ["CMD", "python"] and f"127.0.0.1:{GATEWAY_PORT}/health" in health[-1]
    tpl.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "Port": GATEWAY_PORT,
            "HealthCheckPath": "/health",
            "HealthCheckTimeoutSeconds": 5,
            "HealthCheckIntervalSeconds": 15,
            "Matcher": {"HttpCode": "200"},
        },
    )


def _ingress(synth) -> list[dict]:
    rules = [r["Properties"] for r in synth.resources(STACK, "AWS::EC2::SecurityGroupIngress").values()]
    for sg in synth.resources(STACK, "AWS::EC2::SecurityGroup").values():
        rules += sg["Properties"].get("SecurityGroupIngress", [])
    return rules


def _port(value) -> str:
    if isinstance(value, dict):  # the database's port, read from the cluster
        assert value["Fn::GetAtt"][1] == "Endpoint.Port"
        return "db"
    return str(value)


def test_security_groups_admit_only_the_listener_and_the_gateway(default_synth, full_synth):
    for synth, cidr, port in ((default_synth, "0.0.0.0/0", 80), (full_synth, "203.0.113.0/24", 443)):
        rules = _ingress(synth)
        public = [(r["CidrIp"], r["FromPort"], r["ToPort"]) for r in rules if "CidrIp" in r]
        assert public == [(cidr, port, port)]  # clients reach the listener port and nothing else
        internal = sorted(
            (_port(r["FromPort"]), _port(r["ToPort"])) for r in rules if "SourceSecurityGroupId" in r
        )
        # ALB -> gateway on its port, gateway -> PostgreSQL, gateway -> Redis; nothing else.
        assert internal == [("6379", "6379"), (str(GATEWAY_PORT), str(GATEWAY_PORT)), ("db", "db")]


def test_task_role_invokes_only_the_deployment(full_synth):
    policies = [
        p
        for k, p in full_synth.resources(STACK, "AWS::IAM::Policy").items()
        if k.startswith("GatewayTaskTaskRole")
    ]
    (policy,) = policies
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = [
        a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert not any(a.endswith("*") for a in actions)
    assert all(s["Resource"] != "*" for s in statements)
    invoke = next(s for s in statements if "sagemaker:InvokeEndpoint" in s["Action"])
    # One endpoint ARN per ComputeStack endpoint, each imported from that stack.
    assert len(invoke["Resource"]) == len(full_synth.settings.endpoints)
    assert all("Fn::ImportValue" in r for r in invoke["Resource"])
    bedrock = next(s for s in statements if "bedrock:InvokeModel" in s["Action"])
    assert "foundation-model/anthropic.claude-3-haiku-20240307-v1:0" in str(bedrock["Resource"])


def test_generated_strata_toml_routes_to_the_endpoints(full_synth):
    env = _env(_gateway_container(full_synth))
    config = parse_config(tomllib.loads(env["STRATA_TOML"]), "generated strata.toml")
    providers = {p.name: p for p in config.providers}
    routes = {m.id: (providers[m.provider].type, m.upstream) for m in config.models}
    for entry in full_synth.settings.endpoints:
        assert routes[entry.gateway_model_id] == ("sagemaker", entry.name)
    assert routes["anthropic.claude-3-haiku-20240307-v1:0"][0] == "bedrock"
    small = next(m for m in config.models if m.upstream == "strata-small")
    assert providers[small.provider].inference_component == "strata-small-ic"
    # No secret travels in the plain environment.
    assert not {"STRATA_ADMIN_TOKEN", "STRATA_KEYSTORE_KEY", "DB_PASSWORD", "REDIS_AUTH"} & set(env)


def test_secrets_come_from_secrets_manager(default_synth):
    container = _gateway_container(default_synth)
    assert container["EntryPoint"] + container["Command"] == boot_command()  # not the image's runtime entry
    names = {s["Name"] for s in container["Secrets"]}
    assert {"DB_PASSWORD", "REDIS_AUTH", "STRATA_KEYSTORE_SEED", "STRATA_ADMIN_TOKEN"} <= names
    tpl = default_synth.template(STACK)
    tpl.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"GenerateSecretString": {"PasswordLength": 43, "ExcludePunctuation": True, "IncludeSpace": False}},
    )


def test_database_password_fits_a_url_unescaped(default_synth):
    (db_secret,) = [
        v
        for k, v in default_synth.resources(STACK, "AWS::SecretsManager::Secret").items()
        if "DatabaseSecret" in k
    ]
    excluded = db_secret["Properties"]["GenerateSecretString"]["ExcludeCharacters"]
    assert set(":/?#[]@!$&'()*+,;=% \"\\") <= set(excluded)  # the boot line puts it into a URL as is


def test_managed_bedrock_parts_are_optional(full_synth):
    tpl = full_synth.template(STACK)
    tpl.resource_count_is("AWS::Bedrock::Guardrail", 1)
    tpl.resource_count_is("AWS::Bedrock::KnowledgeBase", 1)
    tpl.resource_count_is("AWS::Bedrock::DataSource", 1)
    tpl.has_resource_properties(
        "AWS::Bedrock::KnowledgeBase", {"StorageConfiguration": {"Type": "S3_VECTORS"}}
    )
    tpl.has_resource_properties("AWS::S3Vectors::Index", {"Dimension": 1024, "DistanceMetric": "cosine"})
    tpl.has_resource_properties(
        "AWS::Bedrock::Guardrail",
        {
            "ContentPolicyConfig": {
                "FiltersConfig": Match.array_with(
                    [{"Type": "PROMPT_ATTACK", "InputStrength": "HIGH", "OutputStrength": "NONE"}]
                )
            }
        },
    )


def test_alarms_on_errors_latency_and_throttles(default_synth):
    tpl = default_synth.template(STACK)
    tpl.has_resource_properties("AWS::Logs::MetricFilter", {"FilterPattern": '"status=429"'})
    descriptions = sorted(
        a["Properties"]["AlarmDescription"]
        for a in default_synth.resources(STACK, "AWS::CloudWatch::Alarm").values()
    )
    assert [d.split()[0:2] for d in descriptions] == [
        ["gateway", "5xx"],
        ["gateway", "p99"],
        ["more", "than"],
    ]
