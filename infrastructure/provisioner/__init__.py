"""SageMaker endpoint provisioning: ``strata provision`` / ``strata deprovision`` and their library.

Public API::

    from infrastructure.provisioner import ModelRequest, Provisioner, build_spec
    spec = build_spec("chat", ModelRequest("llama-3.1-8b"), "ml.inf2.xlarge",
                      region="us-east-1", role_arn=role, max_capacity=4)
    p = Provisioner.for_region("us-east-1", on_event=print)
    p.provision(spec, dry_run=True).actions   # the plan; p.provision(spec) applies it
    p.deprovision("chat")

Modules: ``containers`` (DLC image table + env per platform/server), ``spec`` (desired state,
validation, content-hash names), ``state`` (what exists), ``plan`` (the diff as actions),
``provisioner`` (execute, wait, roll back), ``autoscaling``, ``aws`` (clients, error mapping),
``offline`` (moto with SageMaker's current instance types, for examples/tests), ``cli``.
"""

from infrastructure.provisioner.plan import Action
from infrastructure.provisioner.provisioner import Provisioner, ProvisionError, RunResult, WaitTimeout
from infrastructure.provisioner.spec import EndpointSpec, ModelRequest, ScalingSpec, build_spec

__all__ = [
    "Action",
    "EndpointSpec",
    "ModelRequest",
    "ProvisionError",
    "Provisioner",
    "RunResult",
    "ScalingSpec",
    "WaitTimeout",
    "build_spec",
]
