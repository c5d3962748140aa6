"""What exists in AWS for one strata endpoint name, read with list/describe calls only.

Only resources this tool would have named (``<endpoint>-m-<hash>``, ``<endpoint>-c-<hash>``) count
as ours; an endpoint is ours only if it carries the ``strata:managed-by`` tag, so neither
``provision`` nor ``deprovision`` ever touches something a person created by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from infrastructure.provisioner import autoscaling
from infrastructure.provisioner.autoscaling import ScalingState
from infrastructure.provisioner.aws import Clients
from infrastructure.provisioner.spec import MANAGED_BY_TAG, config_name_re, model_name_re

# Statuses SageMaker moves out of by itself; anything else is where an endpoint rests.
TRANSITIONAL = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


@dataclass(frozen=True)
class EndpointState:
    name: str
    status: str
    config_name: str
    failure_reason: str = ""
    arn: str = ""


@dataclass
class CurrentState:
    """Everything strata-named that exists for one endpoint name."""

    name: str
    endpoint: EndpointState | None = None
    managed: bool = True  # False: an endpoint of that name exists without strata's tag
    models: list[str] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)
    scaling: ScalingState | None = None

    @property
    def empty(self) -> bool:
        return self.endpoint is None and not self.models and not self.configs and self.scaling is None


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
    return CurrentState(
        name=name,
        endpoint=endpoint,
        managed=endpoint is None or is_managed(sm, endpoint.arn),
        models=sorted(models),
        configs=sorted(configs),
        scaling=autoscaling.read(clients.autoscaling, name),
    )
