"""Optional Amazon Bedrock managed parts of the model layer: a guardrail and a knowledge base.

For deployments that use Bedrock's own services next to (or instead of) strata's: a
``CfnGuardrail`` with the content filters and prompt-attack detection strata's guardrails also
implement, and a ``CfnKnowledgeBase`` over the knowledge-base source bucket, its vectors in S3
Vectors (no cluster to run, unlike OpenSearch Serverless), with an S3 ``CfnDataSource``. The
knowledge base's role may read only that bucket, call only its embedding model and write only its
vector index.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3vectors as s3vectors
from constructs import Construct

from cdk.nag import acknowledge

FILTERS = ("SEXUAL", "VIOLENCE", "HATE", "INSULTS", "MISCONDUCT")


def guardrail(scope: Construct) -> bedrock.CfnGuardrail:
    cfg = bedrock.CfnGuardrail.ContentFilterConfigProperty
    filters = [cfg(type=t, input_strength="HIGH", output_strength="HIGH") for t in FILTERS]
    # Prompt attacks are judged on input only (Bedrock requires NONE on output for this filter).
    filters.append(cfg(type="PROMPT_ATTACK", input_strength="HIGH", output_strength="NONE"))
    return bedrock.CfnGuardrail(
        scope,
        "Guardrail",
        name=f"{cdk.Stack.of(scope).stack_name}-guardrail",
        blocked_input_messaging="Sorry, I can't help with that.",
        blocked_outputs_messaging="Sorry, I can't help with that.",
        content_policy_config=bedrock.CfnGuardrail.ContentPolicyConfigProperty(filters_config=filters),
    )


def _kb_role(scope: Construct, bucket: s3.IBucket, embedding_model_arn: str, index_arn: str) -> iam.Role:
    stack = cdk.Stack.of(scope)
    role = iam.Role(
        scope,
        "KnowledgeBaseRole",
        assumed_by=iam.ServicePrincipal(
            "bedrock.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
            },
        ),
    )
    role.add_to_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=[embedding_model_arn]))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("*")]))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=[
                "s3vectors:PutVectors",
                "s3vectors:GetVectors",
                "s3vectors:DeleteVectors",
                "s3vectors:QueryVectors",
                "s3vectors:GetIndex",
            ],
            resources=[index_arn],
        )
    )
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(bucket.node.default_child)}.Arn>/*]",
        "ingestion reads every document under the one knowledge-base source bucket (s3:GetObject only); "
        "the documents' keys are not known at deploy time",
    )
    return role


def knowledge_base(
    scope: Construct, bucket: s3.IBucket, embedding_model_arn: str, dimensions: int
) -> tuple[bedrock.CfnKnowledgeBase, bedrock.CfnDataSource]:
    vectors = s3vectors.CfnVectorBucket(scope, "KbVectors")  # encrypted with SSE-S3 by default
    index = s3vectors.CfnIndex(
        scope,
        "KbIndex",
        vector_bucket_arn=vectors.attr_vector_bucket_arn,
        data_type="float32",
        dimension=dimensions,
        distance_metric="cosine",
    )
    role = _kb_role(scope, bucket, embedding_model_arn, index.attr_index_arn)
    kb = bedrock.CfnKnowledgeBase(
        scope,
        "KnowledgeBase",
        name=f"{cdk.Stack.of(scope).stack_name}-kb",
        role_arn=role.role_arn,
        knowledge_base_configuration=bedrock.CfnKnowledgeBase.KnowledgeBaseConfigurationProperty(
            type="VECTOR",
            vector_knowledge_base_configuration=bedrock.CfnKnowledgeBase.VectorKnowledgeBaseConfigurationProperty(
                embedding_model_arn=embedding_model_arn
            ),
        ),
        storage_configuration=bedrock.CfnKnowledgeBase.StorageConfigurationProperty(
            type="S3_VECTORS",
            s3_vectors_configuration=bedrock.CfnKnowledgeBase.S3VectorsConfigurationProperty(
                index_arn=index.attr_index_arn, vector_bucket_arn=vectors.attr_vector_bucket_arn
            ),
        ),
    )
    kb.node.add_dependency(role)  # Bedrock checks the role's permissions on create
    source = bedrock.CfnDataSource(
        scope,
        "KnowledgeBaseSource",
        name="sources",
        knowledge_base_id=kb.attr_knowledge_base_id,
        data_source_configuration=bedrock.CfnDataSource.DataSourceConfigurationProperty(
            type="S3",
            s3_configuration=bedrock.CfnDataSource.S3DataSourceConfigurationProperty(
                bucket_arn=bucket.bucket_arn
            ),
        ),
    )
    return kb, source
