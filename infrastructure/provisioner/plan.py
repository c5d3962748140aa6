"""The diff between desired and existing state, as an ordered list of actions (pure functions).

``--dry-run`` prints this list; a real run executes it in order. Order matters: new Model and
EndpointConfig first, autoscaling detached before an endpoint roll (AWS refuses to change the
instance type of an autoscaled variant), the endpoint created or rolled and waited for, scaling
attached, and only then superseded configs and models deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infrastructure.provisioner import autoscaling
from infrastructure.provisioner.spec import EndpointSpec, scaling_resource_id
from infrastructure.provisioner.state import CurrentState

Verb = Literal["create", "update", "delete", "keep"]
Kind = Literal["model", "endpoint-config", "endpoint", "scalable-target", "scaling-policy"]


@dataclass(frozen=True)
class Action:
    """One step: ``keep`` means the resource already matches and no API call is made."""

    verb: Verb
    kind: Kind
    name: str
    detail: str = ""

    @property
    def mutating(self) -> bool:
        return self.verb != "keep"


def _endpoint_actions(spec: EndpointSpec, state: CurrentState) -> list[Action]:
    ep = state.endpoint
    if ep is None:
        return [Action("create", "endpoint", spec.name, f"with {spec.config_name}")]
    if ep.status == "Failed":
        # A Failed endpoint cannot be updated, only deleted and created again.
        return [
            Action("delete", "endpoint", spec.name, f"Failed: {ep.failure_reason}".strip()),
            Action("create", "endpoint", spec.name, f"with {spec.config_name}"),
        ]
    if ep.config_name != spec.config_name:
        return [Action("update", "endpoint", spec.name, f"{ep.config_name} -> {spec.config_name}")]
    return [Action("keep", "endpoint", spec.name, f"{ep.status} on {ep.config_name}")]


def _scaling_actions(spec: EndpointSpec, state: CurrentState, detached: bool) -> list[Action]:
    s, have = spec.scaling, None if detached else state.scaling
    rid = spec.scaling_resource_id
    target_detail = f"{s.min_capacity}..{s.max_capacity} instances"
    policy_detail = f"{autoscaling.METRIC} target {s.target_invocations_per_instance:g}/min"
    if autoscaling.target_matches(have, s):
        target = Action("keep", "scalable-target", rid, target_detail)
    else:
        target = Action("update" if have else "create", "scalable-target", rid, target_detail)
    pname = autoscaling.policy_name(spec.name)
    if autoscaling.policy_matches(have, s):
        policy = Action("keep", "scaling-policy", pname, policy_detail)
    else:
        exists = have is not None and have.policy is not None
        policy = Action("update" if exists else "create", "scaling-policy", pname, policy_detail)
    return [target, policy]


def plan_provision(spec: EndpointSpec, state: CurrentState) -> list[Action]:
    """Actions that take ``state`` to ``spec``; all ``keep`` when they already agree."""
    actions = [
        Action(
            "keep" if spec.model_name in state.models else "create",
            "model",
            spec.model_name,
            spec.container.image,
        ),
        Action(
            "keep" if spec.config_name in state.configs else "create",
            "endpoint-config",
            spec.config_name,
            f"{spec.instance_type} x{spec.scaling.min_capacity}",
        ),
    ]
    endpoint = _endpoint_actions(spec, state)
    rolling = any(a.verb in ("update", "delete") for a in endpoint)
    detach = rolling and state.scaling is not None
    if detach:
        actions += _detach_actions(spec.name, state, "detached during the update")
    actions += endpoint
    actions += _scaling_actions(spec, state, detached=detach)
    actions += [
        Action("delete", "endpoint-config", c, "superseded") for c in state.configs if c != spec.config_name
    ]
    actions += [Action("delete", "model", m, "superseded") for m in state.models if m != spec.model_name]
    return actions


def _detach_actions(name: str, state: CurrentState, why: str = "") -> list[Action]:
    out = []
    if state.scaling is not None and state.scaling.policy is not None:
        out.append(Action("delete", "scaling-policy", autoscaling.policy_name(name), why))
    if state.scaling is not None:
        out.append(Action("delete", "scalable-target", scaling_resource_id(name), why))
    return out


def plan_deprovision(state: CurrentState) -> list[Action]:
    """Everything strata owns for the endpoint, in a safe deletion order."""
    actions = _detach_actions(state.name, state)
    if state.endpoint is not None:
        actions.append(Action("delete", "endpoint", state.name, state.endpoint.status))
    actions += [Action("delete", "endpoint-config", c) for c in state.configs]
    actions += [Action("delete", "model", m) for m in state.models]
    return actions
