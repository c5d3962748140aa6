"""The model layer's stateful parts: network, PostgreSQL, Redis, secrets and buckets.

Aurora PostgreSQL Serverless v2 holds tenants, keys, limits and usage (``[state] url``); ElastiCache
Redis the rate-limit buckets every replica shares (``STRATA_REDIS_URL``); Secrets Manager the
keystore sealing key, the admin token, the Redis AUTH token and the database credentials, all
generated at deploy time so no secret is in a template. Everything is encrypted at rest, TLS is
required in transit (``rds.force_ssl``, Redis transit encryption) and only the gateway's security
group may reach the database and the cache. Buckets block public access and refuse plain HTTP.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk.nag import acknowledge
from cdk.settings import GatewaySettings

# Generated secrets go into URLs unescaped: keep URL- and shell-special characters out.
URL_UNSAFE = " %+~`#$&*()|[]{}:;<>?!'/@\"\\,=^."
DB_NAME = "strata"
REDIS_PORT = 6379


def network(scope: Construct) -> ec2.Vpc:
    vpc = ec2.Vpc(
        scope,
        "Vpc",
        max_azs=2,
        nat_gateways=1,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
            ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
        ],
    )
    vpc.add_flow_log("FlowLog")  # AwsSolutions-VPC7: every VPC logs its traffic
    return vpc


def generated_secret(scope: Construct, id: str, description: str, length: int) -> secretsmanager.Secret:
    secret = secretsmanager.Secret(
        scope,
        id,
        description=description,
        generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=length, exclude_punctuation=True, include_space=False
        ),
    )
    acknowledge(
        secret,
        "AwsSolutions-SMG4",
        "rotating this secret needs the gateway to re-read it (keystore key: re-seal every stored key; "
        "admin token / Redis AUTH: restart the tasks); rotation is an operator runbook, not a Lambda",
    )
    return secret


def database(scope: Construct, vpc: ec2.Vpc, g: GatewaySettings) -> rds.DatabaseCluster:
    params = rds.ParameterGroup(
        scope,
        "DbParams",
        engine=rds.DatabaseClusterEngine.aurora_postgres(version=rds.AuroraPostgresEngineVersion.VER_16_9),
        parameters={"rds.force_ssl": "1"},  # no plain-text connections
    )
    cluster = rds.DatabaseCluster(
        scope,
        "Database",
        engine=rds.DatabaseClusterEngine.aurora_postgres(version=rds.AuroraPostgresEngineVersion.VER_16_9),
        writer=rds.ClusterInstance.serverless_v2("writer"),
        readers=[rds.ClusterInstance.serverless_v2("reader", scale_with_writer=True)],
        serverless_v2_min_capacity=g.db_min_acu,
        serverless_v2_max_capacity=g.db_max_acu,
        credentials=rds.Credentials.from_generated_secret("strata", exclude_characters=URL_UNSAFE),
        default_database_name=DB_NAME,
        parameter_group=params,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        storage_encrypted=True,
        deletion_protection=True,
        iam_authentication=True,
        backup=rds.BackupProps(retention=cdk.Duration.days(7)),
        cloudwatch_logs_exports=["postgresql"],
        removal_policy=cdk.RemovalPolicy.SNAPSHOT,
    )
    acknowledge(
        cluster,
        "AwsSolutions-SMG4",
        "the gateway keeps one connection pool per replica; rotating the master password needs a "
        "rolling restart of the ECS service, done by the operator (see README)",
    )
    return cluster


def redis(scope: Construct, vpc: ec2.Vpc, auth: secretsmanager.Secret, g: GatewaySettings):
    """A two-node, Multi-AZ Redis replication group with TLS and AUTH; returns (group, security group)."""
    sg = ec2.SecurityGroup(scope, "RedisSg", vpc=vpc, description="Redis: reachable from the gateway only")
    subnets = elasticache.CfnSubnetGroup(
        scope,
        "RedisSubnets",
        description="strata Redis (isolated subnets)",
        subnet_ids=vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
    )
    group = elasticache.CfnReplicationGroup(
        scope,
        "Redis",
        replication_group_description="strata gateway rate limits",
        engine="redis",
        engine_version="7.1",
        cache_node_type=g.redis_node_type,
        num_cache_clusters=2,
        automatic_failover_enabled=True,
        multi_az_enabled=True,
        at_rest_encryption_enabled=True,
        transit_encryption_enabled=True,
        auth_token=auth.secret_value.unsafe_unwrap(),  # a {{resolve:secretsmanager}} reference, not the value
        cache_subnet_group_name=subnets.ref,
        security_group_ids=[sg.security_group_id],
        port=REDIS_PORT,
        snapshot_retention_limit=1,
    )
    acknowledge(
        group,
        "AwsSolutions-AEC5",
        "Redis's default port is reachable only from the gateway's security group in isolated subnets",
    )
    return group, sg


def buckets(scope: Construct) -> tuple[s3.Bucket, s3.Bucket]:
    """(access-log bucket, knowledge-base source bucket): private, encrypted, TLS only."""
    common = {
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        "versioned": True,
        "removal_policy": cdk.RemovalPolicy.RETAIN,
    }
    logs_bucket = s3.Bucket(
        scope,
        "AccessLogs",
        object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
        lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
        **common,
    )
    kb = s3.Bucket(
        scope,
        "KnowledgeBaseSources",
        server_access_logs_bucket=logs_bucket,
        server_access_logs_prefix="s3/kb-sources/",
        **common,
    )
    return logs_bucket, kb
