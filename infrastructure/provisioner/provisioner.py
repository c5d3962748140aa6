"""Converge a SageMaker endpoint to an :class:`EndpointSpec`, or tear it down: execute, wait, roll back.

:class:`Provisioner` reads the current state, plans (:mod:`.plan`), and executes the plan step by
step (:mod:`.steps`). Every mutating step registers how to undo it; if a later step fails, the
undo steps run in reverse, so a failed run leaves what was there before (a new endpoint is
deleted, a rolled endpoint is rolled back, detached autoscaling re-attached). A wait that times
out is not a failure of the resources, so it rolls nothing back: it says what exists, and a re-run
resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infrastructure.provisioner import autoscaling
from infrastructure.provisioner.aws import Clients, aws_errors, make_clients
from infrastructure.provisioner.errors import ProvisionError, WaitTimeout
from infrastructure.provisioner.plan import Action, plan_deprovision, plan_provision
from infrastructure.provisioner.spec import EndpointSpec, validate_endpoint_name
from infrastructure.provisioner.state import (
    TRANSITIONAL,
    ComponentState,
    CurrentState,
    EndpointState,
    describe_component,
    describe_endpoint,
    read_state,
)
from infrastructure.provisioner.steps import ProvisionRun
from strata.errors import ConfigurationError, StrataError

__all__ = ["ProvisionError", "Provisioner", "RunResult", "WaitTimeout"]

EventCallback = Callable[[str], None]  # one line per step ("create model demo-m-…")
StatusCallback = Callable[[str, str, float], None]  # each poll: resource name, status, seconds waited


@dataclass
class RunResult:
    """What a provision/deprovision run planned (and, unless dry-run, did)."""

    name: str
    actions: list[Action]
    dry_run: bool
    status: str | None = None  # the endpoint's status at the end, None if it does not exist
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(a.mutating for a in self.actions)


class Provisioner:
    """Runs plans against one region's SageMaker and Application Auto Scaling."""

    def __init__(
        self,
        clients: Clients,
        *,
        poll_interval: float = 15.0,
        timeout: float = 3600.0,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll_interval < 0 or timeout < 0:
            raise ConfigurationError("--poll-interval and --timeout must not be negative")
        self.clients = clients
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._on_event = on_event or (lambda _msg: None)
        # Without a status callback, polls are reported as events so a plain log still shows them.
        self._on_status = on_status or (lambda n, st, t: self._on_event(f"{n}: {st} ({t:.0f} s)"))
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def for_region(cls, region: str | None, **kwargs: Any) -> Provisioner:
        return cls(make_clients(region), **kwargs)

    @property
    def sagemaker(self) -> Any:
        return self.clients.sagemaker

    @property
    def autoscaling(self) -> Any:
        return self.clients.autoscaling

    def event(self, message: str) -> None:
        self._on_event(message)

    # -- reading and waiting ------------------------------------------------------------------

    def read(self, name: str) -> CurrentState:
        state = read_state(self.clients, name)
        if not state.managed:
            raise ConfigurationError(
                f"endpoint {name!r} exists but was not created by strata",
                hint="choose another --name; strata only changes endpoints it created",
            )
        return state

    def wait_for_endpoint(self, name: str, *, until_gone: bool = False) -> EndpointState | None:
        """Poll until the endpoint rests (or is gone), reporting its status at every poll."""
        return self._wait("endpoint", name, lambda: describe_endpoint(self.sagemaker, name), until_gone)

    def wait_for_component(self, endpoint_name: str, *, until_gone: bool = False) -> ComponentState | None:
        """Poll until the endpoint's inference component rests (or is gone)."""
        return self._wait(
            "inference component",
            f"{endpoint_name}-ic",
            lambda: describe_component(self.sagemaker, endpoint_name),
            until_gone,
        )

    def _wait(self, kind: str, name: str, describe: Callable[[], Any], until_gone: bool) -> Any:
        start = self._clock()
        while True:
            res = describe()
            elapsed = self._clock() - start
            if res is None:
                if until_gone:
                    self._on_status(name, "deleted", elapsed)
                    return None
                raise ProvisionError(f"{kind} {name} disappeared while waiting for it")
            self._on_status(name, res.status, elapsed)
            if not until_gone and res.status not in TRANSITIONAL:
                return res
            if elapsed >= self.timeout:
                raise WaitTimeout(
                    f"timed out after {self.timeout:g} s waiting for {kind} {name} (status {res.status})",
                    hint="it still exists; re-run the same command to keep waiting, "
                    f"or `strata deprovision --name {name.removesuffix('-ic')}`",
                )
            self._sleep(self.poll_interval)

    # -- provision ----------------------------------------------------------------------------

    def provision(self, spec: EndpointSpec, *, dry_run: bool = False) -> RunResult:
        """Make AWS match ``spec``; with ``dry_run`` only plan (read-only API calls)."""
        with aws_errors(self.clients.region):
            state = self.read(spec.name)
            if not dry_run and state.endpoint is not None and state.endpoint.status in TRANSITIONAL:
                self.event(f"endpoint {spec.name} is {state.endpoint.status}; waiting for it to settle")
                self.wait_for_endpoint(spec.name, until_gone=state.endpoint.status == "Deleting")
                state = self.read(spec.name)
            result = RunResult(spec.name, plan_provision(spec, state), dry_run)
            result.status = state.endpoint.status if state.endpoint else None
        if dry_run or not result.changed:
            return result
        ProvisionRun(self, spec, state).execute(result)
        return result

    # -- deprovision --------------------------------------------------------------------------

    def deprovision(self, name: str, *, dry_run: bool = False) -> RunResult:
        """Delete everything strata owns for endpoint ``name``; nothing there is not an error."""
        validate_endpoint_name(name)
        with aws_errors(self.clients.region):
            state = self.read(name)
        result = RunResult(
            name, plan_deprovision(state), dry_run, state.endpoint.status if state.endpoint else None
        )
        if dry_run:
            return result
        for i, action in enumerate(result.actions):
            self.event(f"{action.verb} {action.kind} {action.name}")
            try:
                with aws_errors(self.clients.region):
                    self._teardown(action, state)
            except StrataError as exc:
                left = ", ".join(f"{a.kind} {a.name}" for a in result.actions[i:])
                raise ProvisionError(
                    f"deprovision of {name} stopped at {action.kind} {action.name}: {exc}; "
                    f"still present: {left}",
                    hint=f"fix the cause and re-run `strata deprovision --name {name}`",
                ) from None
        result.status = None
        return result

    def _teardown(self, action: Action, state: CurrentState) -> None:
        if action.kind == "scaling-policy" and state.scaling is not None:
            autoscaling.delete_policy(self.autoscaling, state.name, state.scaling.target)
        elif action.kind == "scalable-target" and state.scaling is not None:
            autoscaling.deregister_target(self.autoscaling, state.scaling.target)
        elif action.kind == "inference-component":
            self.delete_component(state.name)
        elif action.kind == "endpoint":
            self.delete_endpoint(state.name)
        elif action.kind == "endpoint-config":
            self.sagemaker.delete_endpoint_config(EndpointConfigName=action.name)
        elif action.kind == "model":
            self.sagemaker.delete_model(ModelName=action.name)

    def delete_component(self, endpoint_name: str) -> None:
        """Delete the endpoint's inference component once it rests, and wait until it is gone."""
        ic = describe_component(self.sagemaker, endpoint_name)
        if ic is not None and ic.status in TRANSITIONAL and ic.status != "Deleting":
            ic = self.wait_for_component(endpoint_name)
        if ic is not None and ic.status != "Deleting":
            self.sagemaker.delete_inference_component(InferenceComponentName=ic.name)
        self.wait_for_component(endpoint_name, until_gone=True)

    def delete_endpoint(self, name: str) -> None:
        """Delete the endpoint once it rests (SageMaker refuses mid-transition) and wait until gone."""
        ep = describe_endpoint(self.sagemaker, name)
        if ep is not None and ep.status in TRANSITIONAL and ep.status != "Deleting":
            ep = self.wait_for_endpoint(name)
        if ep is not None and ep.status != "Deleting":
            self.sagemaker.delete_endpoint(EndpointName=name)
        self.wait_for_endpoint(name, until_gone=True)
