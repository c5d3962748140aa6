"""Converge a SageMaker endpoint to an :class:`EndpointSpec`, or tear it down: execute, wait, roll back.

:class:`Provisioner` reads the current state, plans (:mod:`.plan`), and executes the plan step by
step. Every mutating step registers how to undo it; if a later step fails, the undo steps run in
reverse, so a failed run leaves what was there before (a new endpoint is deleted, a rolled
endpoint is rolled back, detached autoscaling re-attached). A wait that times out is not a
failure of the resources, so it rolls nothing back: it says what exists, and a re-run resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infrastructure.provisioner import autoscaling
from infrastructure.provisioner.aws import Clients, aws_errors, make_clients
from infrastructure.provisioner.plan import Action, plan_deprovision, plan_provision
from infrastructure.provisioner.spec import EndpointSpec, validate_endpoint_name
from infrastructure.provisioner.state import (
    TRANSITIONAL,
    CurrentState,
    EndpointState,
    describe_endpoint,
    read_state,
)
from strata.errors import ConfigurationError, StrataError

EventCallback = Callable[[str], None]  # one line per step ("create model demo-m-…")
StatusCallback = Callable[[str, str, float], None]  # each poll: endpoint name, status, seconds waited


class ProvisionError(StrataError):
    """A run failed; the message says what was rolled back and exactly what, if anything, is left."""


class WaitTimeout(StrataError):
    """An endpoint did not settle in time; it still exists and a re-run resumes waiting."""


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
        self._on_status = on_status or (lambda n, st, t: self._on_event(f"endpoint {n}: {st} ({t:.0f} s)"))
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
        start = self._clock()
        while True:
            ep = describe_endpoint(self.sagemaker, name)
            elapsed = self._clock() - start
            if ep is None:
                if until_gone:
                    self._on_status(name, "deleted", elapsed)
                    return None
                raise ProvisionError(f"endpoint {name} disappeared while waiting for it")
            self._on_status(name, ep.status, elapsed)
            if not until_gone and ep.status not in TRANSITIONAL:
                return ep
            if elapsed >= self.timeout:
                raise WaitTimeout(
                    f"timed out after {self.timeout:g} s waiting for endpoint {name} (status {ep.status})",
                    hint="it still exists; re-run the same command to keep waiting, "
                    f"or `strata deprovision --name {name}`",
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
        _ProvisionRun(self, spec, state).execute(result)
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
        if action.kind == "scaling-policy":
            autoscaling.delete_policy(self.autoscaling, state.name)
        elif action.kind == "scalable-target":
            autoscaling.deregister_target(self.autoscaling, state.name)
        elif action.kind == "endpoint":
            self.delete_endpoint(state.name)
        elif action.kind == "endpoint-config":
            self.sagemaker.delete_endpoint_config(EndpointConfigName=action.name)
        elif action.kind == "model":
            self.sagemaker.delete_model(ModelName=action.name)

    def delete_endpoint(self, name: str) -> None:
        """Delete the endpoint once it rests (SageMaker refuses mid-transition) and wait until gone."""
        ep = describe_endpoint(self.sagemaker, name)
        if ep is not None and ep.status in TRANSITIONAL and ep.status != "Deleting":
            ep = self.wait_for_endpoint(name)
        if ep is not None and ep.status != "Deleting":
            self.sagemaker.delete_endpoint(EndpointName=name)
        self.wait_for_endpoint(name, until_gone=True)


class _ProvisionRun:
    """One execution of a provision plan, with its undo journal."""

    def __init__(self, p: Provisioner, spec: EndpointSpec, state: CurrentState) -> None:
        self.p, self.spec, self.state = p, spec, state
        self.undo: list[tuple[str, Callable[[], None]]] = []
        self.undone: list[str] = []

    def execute(self, result: RunResult) -> None:
        cleanup = [a for a in result.actions if a.verb == "delete" and a.kind in ("model", "endpoint-config")]
        main = [a for a in result.actions if a.mutating and a not in cleanup]
        try:
            for action in main:
                self.p.event(f"{action.verb} {action.kind} {action.name}")
                with aws_errors(self.p.clients.region):
                    getattr(self, f"_{action.verb}_{action.kind.replace('-', '_')}")(action)
        except WaitTimeout:
            raise  # the resources are fine, only slow: keep them so a re-run resumes
        except KeyboardInterrupt:
            self.p.event(f"interrupted; created so far: {', '.join(w for w, _ in self.undo) or 'nothing'}")
            raise
        except Exception as exc:
            left = self.rollback()
            raise ProvisionError(_failure_message(self.spec.name, exc, len(self.undone), left)) from None
        result.status = "InService"
        for action in cleanup:  # the roll succeeded: a failed delete only leaves clutter for next run
            self.p.event(f"delete {action.kind} {action.name}")
            try:
                with aws_errors(self.p.clients.region):
                    self.p._teardown(action, self.state)
            except StrataError as exc:
                result.warnings.append(
                    f"could not delete {action.kind} {action.name}: {exc} (the next run retries)"
                )

    def rollback(self) -> list[str]:
        """Undo this run's steps newest first; return what could not be undone."""
        left: list[str] = []
        while self.undo:
            what, fn = self.undo.pop()
            self.p.event(f"rolling back: {what}")
            try:
                with aws_errors(self.p.clients.region):
                    fn()
                self.undone.append(what)
            except Exception as exc:  # keep undoing the rest; report exactly what is left
                left.append(f"{what} ({exc})")
        return left

    # -- steps: one method per (verb, kind), each registering its undo ----------------------------

    def _create_model(self, a: Action) -> None:
        self.p.sagemaker.create_model(**self.spec.create_model_request())
        self.undo.append((f"model {a.name}", lambda: self._delete_unless_in_use("model", a.name)))

    def _create_endpoint_config(self, a: Action) -> None:
        self.p.sagemaker.create_endpoint_config(**self.spec.create_endpoint_config_request())
        self.undo.append((f"endpoint-config {a.name}", lambda: self._delete_unless_in_use("config", a.name)))

    def _delete_unless_in_use(self, kind: str, name: str) -> None:
        ep = describe_endpoint(self.p.sagemaker, self.spec.name)
        if ep is not None and ep.config_name == self.spec.config_name:
            raise ProvisionError(f"{name} is still used by endpoint {self.spec.name}")
        if kind == "model":
            self.p.sagemaker.delete_model(ModelName=name)
        else:
            self.p.sagemaker.delete_endpoint_config(EndpointConfigName=name)

    def _delete_endpoint(self, a: Action) -> None:  # only a Failed endpoint, before re-creating it
        self.p.delete_endpoint(a.name)

    def _create_endpoint(self, a: Action) -> None:
        self.p.sagemaker.create_endpoint(
            EndpointName=a.name,
            EndpointConfigName=self.spec.config_name,
            Tags=self.spec.tags(self.spec.config_hash),
        )
        self.undo.append((f"endpoint {a.name}", lambda: self.p.delete_endpoint(a.name)))
        ep = self.p.wait_for_endpoint(a.name)
        if ep is None or ep.status != "InService":
            reason = f": {ep.failure_reason}" if ep and ep.failure_reason else ""
            raise ProvisionError(f"endpoint {a.name} is {ep.status if ep else 'gone'}{reason}")

    def _update_endpoint(self, a: Action) -> None:
        assert self.state.endpoint is not None  # the plan only updates an existing endpoint
        old = self.state.endpoint.config_name
        self.p.sagemaker.update_endpoint(EndpointName=a.name, EndpointConfigName=self.spec.config_name)
        self.undo.append((f"endpoint {a.name} back to {old}", lambda: self._revert_endpoint(old)))
        ep = self.p.wait_for_endpoint(a.name)
        if ep is None or ep.status != "InService" or ep.config_name != self.spec.config_name:
            # SageMaker rolls a failed update back by itself and reports why in FailureReason.
            reason = ep.failure_reason if ep else "endpoint gone"
            raise ProvisionError(f"update of endpoint {a.name} to {self.spec.config_name} failed: {reason}")

    def _revert_endpoint(self, old_config: str) -> None:
        ep = self.p.wait_for_endpoint(self.spec.name)
        if ep is not None and ep.config_name != old_config:
            self.p.sagemaker.update_endpoint(EndpointName=self.spec.name, EndpointConfigName=old_config)
            self.p.wait_for_endpoint(self.spec.name)

    def _delete_scaling_policy(self, a: Action) -> None:  # detach before a roll
        old = self.state.scaling.to_spec() if self.state.scaling else None
        autoscaling.delete_policy(self.p.autoscaling, self.spec.name)
        if old is not None:
            self.undo.append(
                (
                    f"scaling-policy {a.name}",
                    lambda: autoscaling.put_policy(self.p.autoscaling, self.spec.name, old),
                )
            )

    def _delete_scalable_target(self, a: Action) -> None:
        old = self.state.scaling
        autoscaling.deregister_target(self.p.autoscaling, self.spec.name)
        if old is not None:
            restore = lambda: autoscaling.register_target(  # noqa: E731
                self.p.autoscaling, self.spec.name, old.min_capacity, old.max_capacity
            )
            self.undo.append((f"scalable-target {a.name}", restore))

    def _create_scalable_target(self, a: Action) -> None:
        s = self.spec.scaling
        autoscaling.register_target(self.p.autoscaling, self.spec.name, s.min_capacity, s.max_capacity)
        self.undo.append(
            (
                f"scalable-target {a.name}",
                lambda: autoscaling.deregister_target(self.p.autoscaling, self.spec.name),
            )
        )

    def _update_scalable_target(self, a: Action) -> None:
        old = self.state.scaling
        s = self.spec.scaling
        autoscaling.register_target(self.p.autoscaling, self.spec.name, s.min_capacity, s.max_capacity)
        if old is not None:
            restore = lambda: autoscaling.register_target(  # noqa: E731
                self.p.autoscaling, self.spec.name, old.min_capacity, old.max_capacity
            )
            self.undo.append(
                (f"scalable-target {a.name} back to {old.min_capacity}..{old.max_capacity}", restore)
            )

    def _create_scaling_policy(self, a: Action) -> None:
        autoscaling.put_policy(self.p.autoscaling, self.spec.name, self.spec.scaling)
        self.undo.append(
            (
                f"scaling-policy {a.name}",
                lambda: autoscaling.delete_policy(self.p.autoscaling, self.spec.name),
            )
        )

    def _update_scaling_policy(self, a: Action) -> None:
        old = self.state.scaling.to_spec() if self.state.scaling else None
        autoscaling.put_policy(self.p.autoscaling, self.spec.name, self.spec.scaling)
        if old is not None:
            self.undo.append(
                (
                    f"scaling-policy {a.name}",
                    lambda: autoscaling.put_policy(self.p.autoscaling, self.spec.name, old),
                )
            )


def _failure_message(name: str, exc: BaseException, undone: int, left: list[str]) -> str:
    cause = str(exc) if isinstance(exc, StrataError) else f"{type(exc).__name__}: {exc}"
    if left:
        return (
            f"provisioning {name} failed: {cause}; rolled back {undone} step(s) "
            f"but could not undo: {'; '.join(left)}"
        )
    return (
        f"provisioning {name} failed: {cause}; rolled back {undone} step(s), nothing this run created is left"
    )
