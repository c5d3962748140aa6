"""The CDK app's settings, read from ``cdk.json`` context (or ``-c key=value``) and validated once.

Every knob a deployment changes lives here and in ``cdk/cdk.json``: region and account, the
endpoints of the deployment (the same fields as ``strata provision``'s options, turned into an
:class:`~infrastructure.provisioner.spec.EndpointSpec` by the provisioner's own ``build_spec``),
the gateway's size, the database and cache sizes, and which optional parts are on (Bedrock
pass-through, a Bedrock guardrail, a Bedrock knowledge base, HTTPS). A wrong value stops synth with
one line naming the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infrastructure.provisioner.serving import recommended_instance
from infrastructure.provisioner.spec import EndpointSpec, ModelRequest, build_spec
from strata.errors import ConfigurationError

# build_spec validates a role ARN; the CDK app creates the role itself, so this placeholder only
# passes validation and never reaches a template (ComputeStack uses its own role's ARN).
PLACEHOLDER_ROLE = "arn:aws:iam::000000000000:role/strata-cdk-synth-placeholder"
DEFAULT_CONTEXT_FILE = Path(__file__).with_name("cdk.json")


@dataclass(frozen=True)
class EndpointSettings:
    """One endpoint of the deployment: what ``strata provision`` takes as options."""

    name: str
    model: str
    instance: str | None = None  # None: the planner's recommendation (``strata plan``)
    server: str = "tgi"
    min_capacity: int = 1
    max_capacity: int = 1
    target_invocations: float | None = None
    tp: int | None = None
    context_tokens: int | None = None
    concurrency: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    model_id: str | None = None  # the gateway's model id for it; default meta.<name>-endpoint-v1:0

    def request(self) -> ModelRequest:
        return ModelRequest(self.model, self.tp, self.context_tokens, self.concurrency)

    def spec(self, region: str) -> EndpointSpec:
        """The provisioner's desired state for this endpoint: the single source both paths build from."""
        instance = self.instance or recommended_instance(self.request())
        return build_spec(
            self.name,
            self.request(),
            instance,
            region=region,
            role_arn=PLACEHOLDER_ROLE,
            server=self.server,
            min_capacity=self.min_capacity,
            max_capacity=self.max_capacity,
            target_invocations=self.target_invocations,
            extra_env=self.env or None,
        )

    @property
    def gateway_model_id(self) -> str:
        return self.model_id or f"meta.{self.name}-endpoint-v1:0"


@dataclass(frozen=True)
class GatewaySettings:
    """The gateway's ECS service and what it runs on."""

    cpu: int = 1024
    memory_mib: int = 4096
    desired_count: int = 2
    max_count: int = 6
    certificate_arn: str | None = None  # HTTPS on 443 when set; HTTP on 80 otherwise
    ingress_cidr: str = "0.0.0.0/0"
    db_min_acu: float = 0.5
    db_max_acu: float = 4.0
    redis_node_type: str = "cache.t4g.small"
    log_retention_days: int = 30
    bedrock_models: tuple[str, ...] = ()  # Bedrock model ids passed straight through
    guardrail: bool = False  # a Bedrock CfnGuardrail the deployment can use
    knowledge_base: bool = False  # a Bedrock CfnKnowledgeBase over the KB bucket (S3 Vectors)
    embedding_model_arn: str = ""  # the Bedrock embedding model of that knowledge base
    embedding_dimensions: int = 1024  # its vector length (Titan Text Embeddings v2: 1024)
    chroma_url: str | None = None  # a shared Chroma server for strata's own knowledge bases


@dataclass(frozen=True)
class AppSettings:
    """One sample application: a service from the same image, given a command."""

    name: str
    command: tuple[str, ...]
    cpu: int = 256
    memory_mib: int = 512
    desired_count: int = 1  # 0: a task definition only, run on demand (aws ecs run-task)
    url_env: str = "STRATA_GATEWAY_URL"  # the variable the app reads the gateway's URL from
    key_env: str = "STRATA_API_KEY"  # and its API key


@dataclass(frozen=True)
class Settings:
    region: str
    account: str | None
    endpoints: tuple[EndpointSettings, ...]
    gateway: GatewaySettings
    applications: tuple[AppSettings, ...]

    def specs(self) -> list[EndpointSpec]:
        return [e.spec(self.region) for e in self.endpoints]


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigurationError(f"cdk.json context {where} must be an object")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigurationError(f"cdk.json context {where}: unknown key(s) {', '.join(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigurationError(f"cdk.json context {where}: {exc}") from None


def from_context(get: Any) -> Settings:
    """Settings from a context getter (``app.node.try_get_context``)."""
    region = get("strata:region") or "us-east-1"
    endpoints = tuple(
        _build(EndpointSettings, e, f"strata:endpoints[{i}]")
        for i, e in enumerate(get("strata:endpoints") or [])
    )
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        raise ConfigurationError("cdk.json context strata:endpoints: endpoint names must be unique")
    gateway = _build(GatewaySettings, get("strata:gateway") or {}, "strata:gateway")
    if gateway.knowledge_base and not gateway.embedding_model_arn:
        raise ConfigurationError("cdk.json context strata:gateway: knowledge_base needs embedding_model_arn")
    apps = tuple(
        _build(AppSettings, a, f"strata:applications[{i}]")
        for i, a in enumerate(get("strata:applications") or [])
    )
    for i, app in enumerate(apps):
        if not app.command:
            raise ConfigurationError(f"cdk.json context strata:applications[{i}]: command must not be empty")
    return Settings(region, get("strata:account"), endpoints, gateway, apps)


def default_context() -> dict[str, Any]:
    """The context of ``cdk/cdk.json`` (what ``cdk synth`` uses when nothing is overridden)."""
    return json.loads(DEFAULT_CONTEXT_FILE.read_text())["context"]
