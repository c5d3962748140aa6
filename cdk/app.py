"""The CDK app: three stacks, each given the one below as props. ``cdk synth`` runs this file.

``build_app`` is what the tests call (in-process, once per session); the CLI runs this module
with ``cdk/`` as its working directory, so the repo root goes onto ``sys.path`` first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run by the CDK CLI as a script: make the repo's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk

from cdk.applications_stack import ApplicationsStack
from cdk.compute import ComputeStack
from cdk.model_layer_stack import ModelLayerStack, gateway_image
from cdk.nag import add_checks
from cdk.settings import Settings, from_context

STACK_NAMES = ("StrataCompute", "StrataModelLayer", "StrataApplications")


def build_stacks(app: cdk.App, settings: Settings) -> tuple[ComputeStack, ModelLayerStack, ApplicationsStack]:
    env = cdk.Environment(account=settings.account, region=settings.region)
    compute = ComputeStack(
        app,
        STACK_NAMES[0],
        endpoints=settings.endpoints,
        region=settings.region,
        log_retention_days=settings.gateway.log_retention_days,
        env=env,
        description="strata layer 1: SageMaker endpoints from the planner's deployment spec",
    )
    model_layer = ModelLayerStack(
        app,
        STACK_NAMES[1],
        endpoints=compute.outputs,
        gateway=settings.gateway,
        region=settings.region,
        env=env,
        description="strata layer 2: the model gateway on ECS Fargate with PostgreSQL and Redis",
    )
    applications = ApplicationsStack(
        app,
        STACK_NAMES[2],
        apps=settings.applications,
        cluster=model_layer.cluster,
        image=gateway_image(),
        gateway_url=model_layer.gateway_url,
        log_retention_days=settings.gateway.log_retention_days,
        env=env,
        description="strata layer 3: the sample applications, reaching the gateway by URL and API key",
    )
    return compute, model_layer, applications


def build_app(
    context: dict[str, Any] | None = None, *, outdir: str | None = None, nag: bool = True
) -> cdk.App:
    """The app with its three stacks (and cdk-nag's AwsSolutions checks unless ``nag`` is False)."""
    app = cdk.App(context=context, outdir=outdir)
    build_stacks(app, from_context(app.node.try_get_context))
    if nag:
        add_checks(app)
    return app


if __name__ == "__main__":
    build_app().synth()
