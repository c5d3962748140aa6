"""SageMaker endpoint provisioning: ``strata provision`` / ``strata deprovision`` and their library.

Public API::

    from infrastructure.provisioner import ModelRequest, Provisioner, build_spec
    spec = build_spec("chat", ModelRequest("llama-3.1-8b"), "ml.inf2.24xlarge",
                      region="us-east-1", role_arn=role, max_capacity=4)
    spec.summary, spec.placement            # the planner's row: TP, copies per instance, batch
    p = Provisioner.for_region("us-east-1", on_event=print)
    p.provision(spec, dry_run=True).actions   # the plan; p.provision(spec) applies it
    p.deprovision("chat")

Modules: ``serving`` (the planner's row as container parameters and a placement), ``containers``
(DLC image table + env per platform/server), ``spec`` (desired state, validation, content-hash
names), ``state`` (what exists), ``plan`` (the diff as actions), ``provisioner`` (read, plan,
wait), ``steps`` (execute and roll back), ``autoscaling``, ``aws`` (clients, error mapping),
``offline`` (moto with SageMaker's current instance types and inference components), ``cli``.
"""

from infrastructure.provisioner.plan import Action
from infrastructure.provisioner.provisioner import Provisioner, ProvisionError, RunResult, WaitTimeout
from infrastructure.provisioner.spec import (
    EndpointSpec,
    ModelRequest,
    Placement,
    ScalingSpec,
    ScalingTarget,
    build_spec,
)

__all__ = [
    "Action",
    "EndpointSpec",
    "ModelRequest",
    "Placement",
    "ProvisionError",
    "Provisioner",
    "RunResult",
    "ScalingSpec",
    "ScalingTarget",
    "WaitTimeout",
    "build_spec",
]
