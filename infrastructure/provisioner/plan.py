"""The diff between desired and existing state, as an ordered list of actions (pure functions).

``--dry-run`` prints this list; a real run executes it in order. Order matters: new Model and
EndpointConfig first, autoscaling detached before an endpoint roll (AWS refuses to change the
instance type of an autoscaled variant), an inference component deleted before its endpoint, the
endpoint created or rolled and waited for, then the inference component (several model copies
per instance) created or updated, scaling attached, and only then superseded configs and models
deleted. Switching between one copy and several per instance re-creates the endpoint: a variant
either holds a model or hosts inference components.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infrastructure.provisioner import autoscaling
from infrastructure.provisioner.spec import EndpointSpec, component_name
from infrastructure.provisioner.state import CurrentState

Verb = Literal["create", "update", "delete", "keep"]
Kind = Literal[
    "model", "endpoint-config", "endpoint", "inference-component", "scalable-target", "scaling-policy"
]


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


def _mode(uses_components: bool) -> str:
    return "an inference component" if uses_components else "a model per instance"


def _endpoint_actions(spec: EndpointSpec, state: CurrentState) -> list[Action]:
    ep = state.endpoint
    create = Action("create", "endpoint", spec.name, f"with {spec.config_name}")
    if ep is None:
        return [create]
    if ep.status == "Failed":
        # A Failed endpoint cannot be updated, only deleted and created again.
        return [Action("delete", "endpoint", spec.name, f"Failed: {ep.failure_reason}".strip()), create]
    switching = state.endpoint_uses_components not in (None, spec.uses_components)
    if switching:
        have, want = _mode(not spec.uses_components), _mode(spec.uses_components)
        why = f"re-created: it hosts {have}, the plan needs {want}"
        return [Action("delete", "endpoint", spec.name, why), create]
    if ep.config_name != spec.config_name:
        return [Action("update", "endpoint", spec.name, f"{ep.config_name} -> {spec.config_name}")]
    return [Action("keep", "endpoint", spec.name, f"{ep.status} on {ep.config_name}")]


def _component_detail(spec: EndpointSpec) -> str:
    p = spec.placement
    return (
        f"{p.copies} copies per instance, {p.accelerators_per_copy} accelerator(s) and "
        f"{p.memory_mb_per_copy} MB each, model {spec.model_name}"
    )


def _component_actions(spec: EndpointSpec, state: CurrentState, recreated: bool) -> list[Action]:
    have = None if recreated else state.component
    create = Action("create", "inference-component", spec.component_name, _component_detail(spec))
    if have is None:
        return [create]
    if have.status == "Failed":
        why = f"Failed: {have.failure_reason}".strip()
        return [Action("delete", "inference-component", spec.component_name, why), create]
    if not _covers(have.specification, spec.component_specification()):
        return [Action("update", "inference-component", spec.component_name, _component_detail(spec))]
    return [
        Action("keep", "inference-component", spec.component_name, f"{have.status}, {have.copy_count} copies")
    ]


def _covers(have: object, want: object) -> bool:
    """Whether ``have`` carries every value ``want`` sets (AWS echoes defaults we never set; 1 == 1.0)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_covers(have.get(k), v) for k, v in want.items())
    if isinstance(want, int | float) and isinstance(have, int | float):
        return float(have) == float(want)
    return have == want


def _scaling_actions(spec: EndpointSpec, state: CurrentState, detached: bool) -> list[Action]:
    s, have = spec.scaling, None if detached else state.scaling
    rid = s.target.resource_id
    unit = "copies" if spec.uses_components else "instances"
    target_detail = f"{s.min_capacity}..{s.max_capacity} {unit}"
    policy_detail = f"{s.target.metric} target {s.target_invocations:g}/min"
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
            f"{spec.instance_type} x{spec.instance_range[0]}",
        ),
    ]
    endpoint = _endpoint_actions(spec, state)
    recreated = any(a.verb == "delete" for a in endpoint)
    rolling = recreated or any(a.verb == "update" for a in endpoint)
    retarget = state.scaling is not None and state.scaling.target != spec.scaling.target
    # AWS refuses to roll a variant whose instance count is autoscaled; copies of an inference
    # component may stay attached while the endpoint's config changes under them.
    variant_scaled = state.scaling is not None and not state.scaling.target.resource_id.startswith(
        "inference-component/"
    )
    detach = state.scaling is not None and (retarget or recreated or (rolling and variant_scaled))
    if detach:
        actions += _detach_actions(spec.name, state, "detached during the update")
    if state.component is not None and (recreated or not spec.uses_components):
        actions.append(Action("delete", "inference-component", state.component.name, "before the endpoint"))
    actions += endpoint
    if spec.uses_components:
        actions += _component_actions(spec, state, recreated)
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
        out.append(Action("delete", "scalable-target", state.scaling.target.resource_id, why))
    return out


def plan_deprovision(state: CurrentState) -> list[Action]:
    """Everything strata owns for the endpoint, in a safe deletion order."""
    actions = _detach_actions(state.name, state)
    if state.component is not None:
        actions.append(
            Action("delete", "inference-component", component_name(state.name), state.component.status)
        )
    if state.endpoint is not None:
        actions.append(Action("delete", "endpoint", state.name, state.endpoint.status))
    actions += [Action("delete", "endpoint-config", c) for c in state.configs]
    actions += [Action("delete", "model", m) for m in state.models]
    return actions
