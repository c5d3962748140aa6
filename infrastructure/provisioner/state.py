"""What exists in AWS for one strata endpoint name, read with list/describe calls only.

Only resources this tool would have named (``<endpoint>-m-<hash>``, ``<endpoint>-c-<hash>``,
``<endpoint>-ic``) count as ours; an endpoint is ours only if it carries the ``strata:managed-by``
tag, so neither ``provision`` nor ``deprovision`` ever touches something a person created by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from infrastructure.provisioner import autoscaling
from infrastructure.provisioner.autoscaling import ScalingState
from infrastructure.provisioner.aws import Clients
from infrastructure.provisioner.spec import MANAGED_BY_TAG, component_name, config_name_re, model_name_re

# Statuses SageMaker moves out of by itself; anything else is where an endpoint (or component) rests.
TRANSITIONAL = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


@dataclass(frozen=True)
class EndpointState:
    name: str
    status: str
    config_name: str
    failure_reason: str = ""
    arn: str = ""


@dataclass(frozen=True)
class ComponentState:
    """Our inference component on the endpoint (several model copies per instance)."""

    name: str
    status: str
    specification: dict[str, Any]  # ModelName, StartupParameters, ComputeResourceRequirements
    copy_count: int
    failure_reason: str = ""

    @property
    def model_name(self) -> str:
        return str(self.specification.get("ModelName", ""))


@dataclass
class CurrentState:
    """Everything strata-named that exists for one endpoint name."""

    name: str
    endpoint: EndpointState | None = None
    managed: bool = True  # False: an endpoint of that name exists without strata's tag
    models: list[str] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)
    scaling: ScalingState | None = None
    component: ComponentState | None = None
    # Whether the endpoint's config hosts inference components (no model in the variant); None: unknown.
    endpoint_uses_components: bool | None = None

    @property
    def empty(self) -> bool:
        return (
            self.endpoint is None
            and not self.models
            and not self.configs
            and self.scaling is None
            and self.component is None
        )


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def describe_endpoint(sagemaker: Any, name: str) -> EndpointState | None:
    """The endpoint, or None; existence comes from ListEndpoints so no error text is parsed."""
    found = any(
        e["EndpointName"] == name for e in _pages(sagemaker, "list_endpoints", "Endpoints", NameContains=name)
    )
    if not found:
        return None
    d = sagemaker.describe_endpoint(EndpointName=name)
    return EndpointState(
        name,
        d["EndpointStatus"],
        d.get("EndpointConfigName", ""),
        d.get("FailureReason", ""),
        d["EndpointArn"],
    )


def describe_component(sagemaker: Any, endpoint_name: str) -> ComponentState | None:
    """Our inference component on ``endpoint_name``, or None (existence from the List call)."""
    name = component_name(endpoint_name)
    listed = _pages(
        sagemaker, "list_inference_components", "InferenceComponents",
        EndpointNameEquals=endpoint_name, NameContains=name,
    )  # fmt: skip
    if not any(c["InferenceComponentName"] == name for c in listed):
        return None
    d = sagemaker.describe_inference_component(InferenceComponentName=name)
    spec = d.get("Specification", {})
    return ComponentState(
        name=name,
        status=d["InferenceComponentStatus"],
        specification={k: spec[k] for k in ("ModelName", "StartupParameters", "ComputeResourceRequirements")
                       if k in spec},
        copy_count=int(d.get("RuntimeConfig", {}).get("DesiredCopyCount", 0)),
        failure_reason=d.get("FailureReason", ""),
    )  # fmt: skip


def _uses_components(sagemaker: Any, config_name: str) -> bool | None:
    listed = _pages(sagemaker, "list_endpoint_configs", "EndpointConfigs", NameContains=config_name)
    if not any(c["EndpointConfigName"] == config_name for c in listed):
        return None
    variants = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"]
    return not any(v.get("ModelName") for v in variants)


def is_managed(sagemaker: Any, arn: str) -> bool:
    tags = _pages(sagemaker, "list_tags", "Tags", ResourceArn=arn)
    return any(t == MANAGED_BY_TAG for t in tags)


def read_state(clients: Clients, name: str) -> CurrentState:
    sm = clients.sagemaker
    endpoint = describe_endpoint(sm, name)
    model_re, config_re = model_name_re(name), config_name_re(name)
    models = [
        m["ModelName"]
        for m in _pages(sm, "list_models", "Models", NameContains=name)
        if model_re.match(m["ModelName"])
    ]
    configs = [
        c["EndpointConfigName"]
        for c in _pages(sm, "list_endpoint_configs", "EndpointConfigs", NameContains=name)
        if config_re.match(c["EndpointConfigName"])
    ]
    managed = endpoint is None or is_managed(sm, endpoint.arn)
    return CurrentState(
        name=name,
        endpoint=endpoint,
        managed=managed,
        models=sorted(models),
        configs=sorted(configs),
        scaling=autoscaling.read(clients.autoscaling, name),
        component=describe_component(sm, name) if endpoint is not None and managed else None,
        endpoint_uses_components=_uses_components(sm, endpoint.config_name) if endpoint else None,
    )
