"""One execution of a provision plan: a method per (verb, kind) step, each registering how to undo it.

:class:`ProvisionRun` walks the plan's actions in order; if a step fails, the undo journal runs
newest first, so a failed run leaves what was there before (a new endpoint or inference component
is deleted, a rolled endpoint or updated component is rolled back, detached autoscaling is
re-attached). Superseded configs and models are deleted only after every other step succeeded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from infrastructure.provisioner import autoscaling
from infrastructure.provisioner.aws import aws_errors
from infrastructure.provisioner.errors import ProvisionError, WaitTimeout
from infrastructure.provisioner.plan import Action
from infrastructure.provisioner.spec import EndpointSpec
from infrastructure.provisioner.state import CurrentState, describe_endpoint
from strata.errors import StrataError

if TYPE_CHECKING:
    from infrastructure.provisioner.provisioner import Provisioner, RunResult


class ProvisionRun:
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
            raise ProvisionError(failure_message(self.spec.name, exc, len(self.undone), left)) from None
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

    def _delete_endpoint(self, a: Action) -> None:  # a Failed endpoint, or one changing mode
        self.p.delete_endpoint(a.name)

    # -- the inference component (several copies per instance) ------------------------------------

    def _create_inference_component(self, a: Action) -> None:
        self.p.sagemaker.create_inference_component(**self.spec.create_inference_component_request())
        self.undo.append((f"inference-component {a.name}", lambda: self.p.delete_component(self.spec.name)))
        self._await_component(a.name)

    def _update_inference_component(self, a: Action) -> None:
        old = self.state.component
        self.p.sagemaker.update_inference_component(**self.spec.update_inference_component_request())
        if old is not None:
            restore = lambda: self._revert_component(old.specification)  # noqa: E731
            self.undo.append((f"inference-component {a.name} back to {old.model_name}", restore))
        self._await_component(a.name)

    def _delete_inference_component(self, a: Action) -> None:  # before its endpoint, or a Failed one
        self.p.delete_component(self.spec.name)

    def _await_component(self, name: str) -> None:
        ic = self.p.wait_for_component(self.spec.name)
        if ic is None or ic.status != "InService":
            reason = f": {ic.failure_reason}" if ic and ic.failure_reason else ""
            raise ProvisionError(f"inference component {name} is {ic.status if ic else 'gone'}{reason}")

    def _revert_component(self, specification: dict[str, Any]) -> None:
        self.p.wait_for_component(self.spec.name)
        self.p.sagemaker.update_inference_component(
            InferenceComponentName=self.spec.component_name, Specification=specification
        )
        self.p.wait_for_component(self.spec.name)

    # -- autoscaling: detached from what exists, attached to what the spec wants ----------------------

    def _delete_scaling_policy(self, a: Action) -> None:  # detach before a roll
        old = self.state.scaling
        if old is None:
            return
        autoscaling.delete_policy(self.p.autoscaling, self.spec.name, old.target)
        before = old.to_spec()
        if before is not None:
            restore = lambda: autoscaling.put_policy(self.p.autoscaling, self.spec.name, before)  # noqa: E731
            self.undo.append((f"scaling-policy {a.name}", restore))

    def _delete_scalable_target(self, a: Action) -> None:
        old = self.state.scaling
        if old is None:
            return
        autoscaling.deregister_target(self.p.autoscaling, old.target)
        restore = lambda: autoscaling.register_target(  # noqa: E731
            self.p.autoscaling, old.target, old.min_capacity, old.max_capacity
        )
        self.undo.append((f"scalable-target {a.name}", restore))

    def _create_scalable_target(self, a: Action) -> None:
        s = self.spec.scaling
        autoscaling.register_target(self.p.autoscaling, s.target, s.min_capacity, s.max_capacity)
        remove = lambda: autoscaling.deregister_target(self.p.autoscaling, s.target)  # noqa: E731
        self.undo.append((f"scalable-target {a.name}", remove))

    def _update_scalable_target(self, a: Action) -> None:
        old, s = self.state.scaling, self.spec.scaling
        autoscaling.register_target(self.p.autoscaling, s.target, s.min_capacity, s.max_capacity)
        if old is not None:
            restore = lambda: autoscaling.register_target(  # noqa: E731
                self.p.autoscaling, old.target, old.min_capacity, old.max_capacity
            )
            self.undo.append(
                (f"scalable-target {a.name} back to {old.min_capacity}..{old.max_capacity}", restore)
            )

    def _create_scaling_policy(self, a: Action) -> None:
        autoscaling.put_policy(self.p.autoscaling, self.spec.name, self.spec.scaling)
        target = self.spec.scaling.target
        remove = lambda: autoscaling.delete_policy(self.p.autoscaling, self.spec.name, target)  # noqa: E731
        self.undo.append((f"scaling-policy {a.name}", remove))

    def _update_scaling_policy(self, a: Action) -> None:
        old = self.state.scaling.to_spec() if self.state.scaling else None
        autoscaling.put_policy(self.p.autoscaling, self.spec.name, self.spec.scaling)
        if old is not None:
            restore = lambda: autoscaling.put_policy(self.p.autoscaling, self.spec.name, old)  # noqa: E731
            self.undo.append((f"scaling-policy {a.name}", restore))


def failure_message(name: str, exc: BaseException, undone: int, left: list[str]) -> str:
    cause = str(exc) if isinstance(exc, StrataError) else f"{type(exc).__name__}: {exc}"
    if left:
        return (
            f"provisioning {name} failed: {cause}; rolled back {undone} step(s) "
            f"but could not undo: {'; '.join(left)}"
        )
    return (
        f"provisioning {name} failed: {cause}; rolled back {undone} step(s), nothing this run created is left"
    )
