"""Fixtures: moto AWS (widened to today's SageMaker instance types, with UpdateEndpoint) per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infrastructure.provisioner.aws import Clients, make_clients
from infrastructure.provisioner.offline import mocked_aws
from infrastructure.provisioner.provisioner import Provisioner
from infrastructure.provisioner.spec import EndpointSpec, ModelRequest, build_spec

ROLE = "arn:aws:iam::123456789012:role/strata-sagemaker"
REGION = "us-east-1"
MUTATING_PREFIXES = ("Create", "Update", "Delete", "Put", "Register", "Deregister", "Add")


@pytest.fixture
def aws() -> Iterator[Clients]:
    with mocked_aws():
        yield make_clients(REGION)


class CallLog:
    """Every AWS operation the clients send, in order (a botocore before-call hook, not a mock)."""

    def __init__(self, *clients: object) -> None:
        self.calls: list[str] = []
        for client in clients:
            client.meta.events.register("before-call.*.*", self._record)  # type: ignore[attr-defined]

    def _record(self, model: object, **_: object) -> None:
        self.calls.append(model.name)  # type: ignore[attr-defined]

    @property
    def mutating(self) -> list[str]:
        return [c for c in self.calls if c.startswith(MUTATING_PREFIXES)]


@pytest.fixture
def calls(aws: Clients) -> CallLog:
    return CallLog(aws.sagemaker, aws.autoscaling)


@pytest.fixture
def events() -> list[str]:
    return []


@pytest.fixture
def provisioner(aws: Clients, events: list[str]) -> Provisioner:
    return Provisioner(aws, poll_interval=0, timeout=5, on_event=events.append)


def _make_spec(name: str = "demo", instance: str = "ml.inf2.xlarge", **kw: Any) -> EndpointSpec:
    # A small workload that one inf2.xlarge holds (the CLI's default, 16 x 8192, does not):
    # these fixtures exercise convergence; sizing has its own tests.
    req = ModelRequest(
        kw.pop("model", "llama-3.1-8b"),
        kw.pop("tp", None),
        kw.pop("context_tokens", 4096),
        kw.pop("concurrency", 4),
    )
    kw.setdefault("max_capacity", 4)
    kw.setdefault("role_arn", ROLE)
    return build_spec(name, req, instance, region=REGION, **kw)


@pytest.fixture
def make_spec() -> Callable[..., EndpointSpec]:
    """Build a spec like the CLI would: ``make_spec("demo", "ml.inf2.xlarge", max_capacity=2)``."""
    return _make_spec


@pytest.fixture
def moto_endpoint(aws: Clients) -> Callable[[str], Any]:
    """moto's own endpoint object, to put it in states moto never reaches by itself (Failed, Creating)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sagemaker.models import sagemaker_backends

    return lambda name: sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].endpoints[name]
