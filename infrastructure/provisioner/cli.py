"""``strata provision`` / ``strata deprovision``: thin commands over :class:`Provisioner`.

The deployment (the planner's row for the model on the instance) and the plan table go to stdout
(so ``--dry-run`` output can be captured); progress while waiting goes to stderr as a rich
spinner showing the endpoint's status. ``--mock`` runs everything against moto's in-process AWS
(widened to today's SageMaker, see :mod:`.offline`), so the walkthrough needs no AWS account.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from infrastructure.provisioner.aws import make_clients
from infrastructure.provisioner.plan import Action
from infrastructure.provisioner.provisioner import Provisioner, RunResult
from infrastructure.provisioner.serving import recommended_instance
from infrastructure.provisioner.spec import ROLE_ENV, EndpointSpec, ModelRequest, build_spec
from strata.errors import ConfigurationError

_VERB_STYLE = {"create": "green", "update": "yellow", "delete": "red", "keep": "dim"}

Region = Annotated[str | None, typer.Option("--region", help="AWS region (default: the boto3 chain).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan; call no mutating API.")]
PollInterval = Annotated[
    float, typer.Option("--poll-interval", help="Seconds between endpoint status polls.", min=0)
]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the endpoint.", min=0)]
Mock = Annotated[
    bool, typer.Option("--mock", help="Run against moto's in-process AWS: no AWS account, nothing created.")
]
MOCK_REGION = "us-east-1"
MOCK_ROLE = "arn:aws:iam::123456789012:role/strata-mock"
MOCK_NOTE = (
    "mock: ran against moto's in-process AWS (SageMaker widened to today's instance types); nothing was "
    "created in any AWS account, and the mock's state ends with this command"
)


@contextmanager
def _maybe_mock(mock: bool) -> Iterator[None]:
    """With ``mock``, AWS calls inside go to moto, signed with throwaway credentials; env restored after."""
    if not mock:
        yield
        return
    from infrastructure.provisioner.offline import mocked_aws

    fake = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }
    saved = {k: os.environ.get(k) for k in (*fake, "AWS_PROFILE", "AWS_ENDPOINT_URL")}
    os.environ.update(fake)
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):  # a profile or endpoint could send calls past moto
        os.environ.pop(var, None)
    try:
        with mocked_aws():
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _print_deployment(out: Console, spec: EndpointSpec) -> None:
    out.print(f"deployment: {spec.summary}", soft_wrap=True, highlight=False)
    if spec.uses_components:
        p = spec.placement
        out.print(
            f"placement: inference component {spec.component_name}, {p.copies} copies per instance, "
            f"{p.accelerators_per_copy} accelerator(s) and {p.memory_mb_per_copy} MB host memory each",
            soft_wrap=True, highlight=False,
        )  # fmt: skip
    env = " ".join(f"{k}={v}" for k, v in spec.container.environment.items())
    out.print(f"container: {spec.container.image}", soft_wrap=True, highlight=False)
    out.print(f"environment: {env}", soft_wrap=True, highlight=False)


def _actions_table(title: str, actions: list[Action]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("action", "resource", "name", "detail"):
        table.add_column(col, overflow="fold")
    for a in actions:
        style = _VERB_STYLE[a.verb]
        table.add_row(f"[{style}]{a.verb}[/]", a.kind, a.name, a.detail)
    return table


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


@contextmanager
def _progress(err: Console, quiet: bool) -> Iterator[dict[str, Any]]:
    """Callbacks for :class:`Provisioner`: steps print as lines, polls update a spinner in place."""
    if quiet:
        yield {}
        return
    with err.status("reading current state…") as spinner:

        def on_event(message: str) -> None:
            err.print(f"  {message}", highlight=False)
            spinner.update(message)

        def on_status(name: str, status: str, waited: float) -> None:
            spinner.update(f"{name}: [bold]{status}[/] ({waited:.0f} s)")

        yield {"on_event": on_event, "on_status": on_status}


def _report(out: Console, result: RunResult, verb: str) -> None:
    if result.dry_run:
        out.print(
            f"dry run: nothing was changed ({sum(a.mutating for a in result.actions)} change(s) planned)"
        )
        return
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    if not result.changed:
        out.print(f"{result.name}: nothing to {verb}, already as desired")
    elif result.status:
        out.print(f"{result.name}: {result.status}")
    else:
        out.print(f"{result.name}: deprovisioned")


def register(app: typer.Typer) -> None:
    """Add ``provision`` and ``deprovision`` to the root app."""

    @app.command("provision")
    def provision(
        name: Annotated[str, typer.Option("--name", help="Endpoint name.")],
        model: Annotated[str, typer.Option("--model", help="Planner preset or Hugging Face model id.")],
        instance: Annotated[
            str | None,
            typer.Option(
                "--instance", help="SageMaker instance type (default: what `strata plan` recommends)."
            ),
        ] = None,
        min_capacity: Annotated[int, typer.Option("--min-capacity", help="Minimum instances.")] = 1,
        max_capacity: Annotated[int, typer.Option("--max-capacity", help="Maximum instances.")] = 4,
        role_arn: Annotated[
            str | None, typer.Option("--role-arn", help=f"Execution role (or {ROLE_ENV}).")
        ] = None,
        server: Annotated[str, typer.Option("--server", help="Serving container: tgi or lmi.")] = "tgi",
        tp: Annotated[
            int | None, typer.Option("--tp", help="Tensor-parallel degree (default: planner).")
        ] = None,
        context_tokens: Annotated[
            int | None, typer.Option("--context-tokens", help="Max tokens per sequence.")
        ] = None,
        concurrency: Annotated[
            int | None, typer.Option("--concurrency", help="Sequences in flight per instance.")
        ] = None,
        target_invocations: Annotated[
            float | None,
            typer.Option(
                "--target-invocations",
                help="Autoscaling target: invocations per minute per instance (or copy).",
            ),
        ] = None,
        env: Annotated[
            list[str] | None,
            typer.Option("--env", metavar="KEY=VALUE", help="Extra container env (repeatable)."),
        ] = None,
        region: Region = None,
        dry_run: DryRun = False,
        mock: Mock = False,
        poll_interval: PollInterval = 15.0,
        timeout: Timeout = 3600.0,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    ) -> None:
        """Create or update a SageMaker endpoint for a model, deployed as `strata plan` sizes it."""
        out, err = Console(), Console(stderr=True)
        request = ModelRequest(model, tp, context_tokens, concurrency)
        with _maybe_mock(mock):
            clients = make_clients(region or (MOCK_REGION if mock else None))
            spec = build_spec(
                name,
                request,
                instance or recommended_instance(request),
                region=clients.region,
                role_arn=role_arn or (MOCK_ROLE if mock else None),
                server=server,
                min_capacity=min_capacity,
                max_capacity=max_capacity,
                target_invocations=target_invocations,
                extra_env=_parse_env(env or []),
            )
            for note in spec.notes:
                err.print(f"[yellow]note:[/] {note}", highlight=False)
            _print_deployment(out, spec)
            with _progress(err, quiet or dry_run) as callbacks:
                p = Provisioner(clients, poll_interval=poll_interval, timeout=timeout, **callbacks)
                result = p.provision(spec, dry_run=dry_run)
        title = f"{'plan' if dry_run else 'provision'}: {name} in {clients.region}"
        out.print(_actions_table(title, result.actions))
        _report(out, result, "provision")
        if mock:
            out.print(MOCK_NOTE, soft_wrap=True, highlight=False)

    @app.command("deprovision")
    def deprovision(
        name: Annotated[str, typer.Option("--name", help="Endpoint name.")],
        region: Region = None,
        dry_run: DryRun = False,
        mock: Mock = False,
        poll_interval: PollInterval = 15.0,
        timeout: Timeout = 3600.0,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    ) -> None:
        """Delete a strata endpoint with its configs, models and autoscaling (idempotent)."""
        out, err = Console(), Console(stderr=True)
        with _maybe_mock(mock):
            clients = make_clients(region or (MOCK_REGION if mock else None))
            with _progress(err, quiet or dry_run) as callbacks:
                p = Provisioner(clients, poll_interval=poll_interval, timeout=timeout, **callbacks)
                result = p.deprovision(name, dry_run=dry_run)
        if not result.actions:
            out.print(f"{name}: nothing to deprovision in {clients.region}")
        else:
            out.print(
                _actions_table(
                    f"{'plan' if dry_run else 'deprovision'}: {name} in {clients.region}", result.actions
                )
            )
            _report(out, result, "deprovision")
        if mock:
            out.print(MOCK_NOTE, soft_wrap=True, highlight=False)
