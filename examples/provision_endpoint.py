"""Provision a SageMaker endpoint for a model on the planner's recommended instance, then tear it down.

    .venv/bin/python examples/provision_endpoint.py --mock            # offline, against moto
    .venv/bin/python examples/provision_endpoint.py --role-arn arn:aws:iam::<acct>:role/<role>

    .venv/bin/python examples/provision_endpoint.py --mock --model llama-3.1-8b \
        --context 8192 --concurrency 16 --instance ml.inf2.48xlarge   # 2 copies per instance

Steps: ask the planner where the model fits best (or take ``--instance``), provision what the
planner's row says (Model, EndpointConfig, Endpoint, an inference component when the row puts
several copies on one instance, autoscaling), re-run to show nothing changes, raise max capacity
(applied in place), then deprovision. ``--mock`` (or ``STRATA_EXAMPLE_MOCK=1``) runs it all in
moto, with no AWS account; without it, it creates real (billed) resources in your account and
deletes them at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import nullcontext

from infrastructure.catalog import get_instance_type
from infrastructure.planner import Workload, get_model_preset, plan_instance, recommend
from infrastructure.provisioner.aws import make_clients
from infrastructure.provisioner.provisioner import Provisioner, RunResult
from infrastructure.provisioner.spec import EndpointSpec, ModelRequest, build_spec
from strata.errors import StrataError

MOCK_ROLE = "arn:aws:iam::123456789012:role/strata-example"


def _summary(label: str, result: RunResult) -> None:
    changes = [f"{a.verb} {a.kind}" for a in result.actions if a.mutating]
    print(f"{label}: {len(changes)} change(s){': ' + ', '.join(changes) if changes else ''}")


def run(args: argparse.Namespace) -> None:
    preset = get_model_preset(args.model)
    workload = Workload(args.context, args.concurrency)
    best = (
        plan_instance(preset, workload, get_instance_type(args.instance))
        if args.instance
        else recommend(preset, workload)
    )
    print(
        f"planner: {preset.name} -> {best.instance.name} (tp={best.tp_degree} x {best.copies}); {best.reason}"
    )
    clients = make_clients(args.region)
    p = Provisioner(clients, poll_interval=0 if args.mock else 30, timeout=3600, on_event=print)
    request = ModelRequest(preset.name, context_tokens=args.context, concurrency=args.concurrency)

    def spec(max_capacity: int) -> EndpointSpec:
        return build_spec(
            args.name, request, best.instance.name, region=clients.region, role_arn=args.role_arn,
            min_capacity=1, max_capacity=max_capacity,
        )  # fmt: skip

    first = spec(2)
    print(f"deployment: {first.summary}")
    if first.uses_components:
        print(f"inference component: {first.component_name}, {first.placement.copies} copies per instance")
    print(f"image: {first.container.image}")
    print(f"env:   {first.container.environment}")
    _summary("provision", p.provision(first))
    _summary("provision again", p.provision(first))
    _summary("raise max capacity to 4", p.provision(spec(4)))
    endpoint = clients.sagemaker.describe_endpoint(EndpointName=args.name)
    print(f"endpoint {args.name}: {endpoint['EndpointStatus']} on {endpoint['EndpointConfigName']}")
    _summary("deprovision", p.deprovision(args.name))
    _summary("deprovision again", p.deprovision(args.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="strata-example")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--instance", default=None, help="default: the planner's recommendation")
    parser.add_argument("--region", default=None)
    parser.add_argument("--role-arn", default=None)
    parser.add_argument("--mock", action="store_true", default=os.environ.get("STRATA_EXAMPLE_MOCK") == "1")
    args = parser.parse_args(argv)
    if args.mock:
        from infrastructure.provisioner.offline import mocked_aws

        # moto needs some credentials and a region, never real ones.
        for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            os.environ[var] = value
        args.region = args.region or "us-east-1"
        args.role_arn = args.role_arn or MOCK_ROLE
    try:
        with mocked_aws() if args.mock else nullcontext():
            run(args)
    except StrataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
