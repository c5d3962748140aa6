"""Provision a SageMaker endpoint for a model on the planner's recommended instance, then tear it down.

    .venv/bin/python examples/provision_endpoint.py --mock            # offline, against moto
    .venv/bin/python examples/provision_endpoint.py --role-arn arn:aws:iam::<acct>:role/<role>

Steps: ask the planner where the model fits best, provision (Model, EndpointConfig, Endpoint,
autoscaling), re-run to show nothing changes, raise max capacity (applied in place), then
deprovision. ``--mock`` (or ``STRATA_EXAMPLE_MOCK=1``) runs it all in moto, with no AWS account;
without it, it creates real (billed) resources in your account and deletes them at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import nullcontext

from infrastructure.planner import Workload, get_model_preset, recommend
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
    best = recommend(preset, Workload(args.context, args.concurrency))
    print(f"planner: {preset.name} -> {best.instance.name} (tp={best.tp_degree}); {best.reason}")
    clients = make_clients(args.region)
    p = Provisioner(clients, poll_interval=0 if args.mock else 30, timeout=3600, on_event=print)
    request = ModelRequest(preset.name, context_tokens=args.context, concurrency=args.concurrency)

    def spec(max_capacity: int) -> EndpointSpec:
        return build_spec(
            args.name, request, best.instance.name, region=clients.region, role_arn=args.role_arn,
            min_capacity=1, max_capacity=max_capacity,
        )  # fmt: skip

    first = spec(2)
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
