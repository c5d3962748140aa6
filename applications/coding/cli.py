"""``strata code``: fix, test, generate, explain, migrate, ask — each with ``--workspace`` and ``--json``.

Registered through the ``strata.commands`` entry point like every layer's commands. The commands
talk to a running gateway (``--url``, default ``$STRATA_CODE_URL`` or http://127.0.0.1:8000) with
an API key (``--api-key`` / ``$STRATA_CODE_API_KEY``), only through the SDK; ``migrate`` needs
one only for the deprecated uses its deterministic rewriters leave. The exit status is 0 when the
measured outcome is a success, 1 otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from applications.coding.companion import COMMANDS, CodeSettings
from applications.coding.report import CodeReport
from applications.coding.sandbox import SandboxLimits

code_app = typer.Typer(
    help="The coding companion: fix, test, generate, explain, migrate, ask — tests in a sandbox."
)

SUCCESS = frozenset(
    {
        "fixed",
        "already_passing",
        "generated",
        "tests_added",
        "migrated",
        "nothing_to_migrate",
        "answered",
        "not_in_docs",
    }
)
Workspace = Annotated[Path, typer.Option("--workspace", "-w", help="The project folder (default: here).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON report.")]
Url = Annotated[str | None, typer.Option("--url", help="The gateway's base URL.")]
ApiKey = Annotated[str | None, typer.Option("--api-key", help="A gateway API key (or $STRATA_CODE_API_KEY).")]
Model = Annotated[str | None, typer.Option("--model", help="The chat model id.")]
Attempts = Annotated[int, typer.Option("--attempts", min=1, max=10, help="Model attempts at most.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Report the diff; never write the workspace.")]
Timeout = Annotated[float, typer.Option("--timeout", min=1, max=3600, help="Seconds per sandboxed test run.")]
MaxTokens = Annotated[
    int, typer.Option("--max-tokens", min=16, max=8192, help="Tokens per model reply at most.")
]


def _run(command: str, argument: str, workspace: Path, as_json: bool, **options) -> None:
    timeout = options.pop("timeout")
    settings = CodeSettings.from_env(
        url=options["url"],
        api_key=options["api_key"],
        model_id=options["model"],
        attempts=options["attempts"],
        max_tokens=options["max_tokens"],
        write=not options["dry_run"],
        limits=SandboxLimits(wall_s=timeout, cpu_s=int(timeout)),
    )
    report = COMMANDS[command](settings, workspace, argument)
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else render(report))
    raise typer.Exit(0 if report.status in SUCCESS else 1)


def render(report: CodeReport) -> str:
    """The report for a person: status first, then runs, changes, answer and citations."""
    data = report.to_dict()
    lines = [f"{report.command}: {report.status} — {report.message}"]
    for run in data["runs"]:
        c = run["counts"]
        lines.append(
            f"  test run ({run['isolation']}): {run['outcome']}, {c['passed']} passed, {c['failed']} failed, "
            f"{c['errors']} errors in {run['duration_s']}s"
            + (f"; limits hit: {', '.join(run['limits_hit'])}" if run["limits_hit"] else "")
        )
    lines += [f"  model call {c['attempt']}: {c['result']}" for c in data["model_calls"]]
    lines += [f"  rewrote {line}" for line in report.applied]
    lines += [f"  left for a person or the model: {line}" for line in report.left]
    lines += [f"  note: {note}" for note in data["notes"]]
    if report.answer:
        lines += ["", report.answer.strip()]
    lines += [f"  [{c.get('n', '-')}] {c['path']}" for c in report.citations]
    for change in data["files_changed"]:
        lines += ["", change["diff"].rstrip()]
    if report.written:
        lines.append(f"  wrote {', '.join(report.written)}")
    return "\n".join(lines)


def _command(name: str, help_text: str, argument_help: str):
    def command(
        argument: str,
        workspace: Workspace = Path("."),
        as_json: AsJson = False,
        url: Url = None,
        api_key: ApiKey = None,
        model: Model = None,
        attempts: Attempts = 3,
        dry_run: DryRun = False,
        timeout: Timeout = 120.0,
        max_tokens: MaxTokens = 512,
    ) -> None:
        _run(
            name, argument, workspace, as_json,
            url=url, api_key=api_key, model=model, attempts=attempts, dry_run=dry_run, timeout=timeout,
            max_tokens=max_tokens,
        )  # fmt: skip

    command.__doc__ = help_text
    # Annotations are strings here (PEP 563); this one needs the closure's help text, so set it.
    command.__annotations__["argument"] = Annotated[str, typer.Argument(help=argument_help)]
    code_app.command(name)(command)


_command("fix", "Find and fix a bug so the workspace's tests pass.", "What is wrong, in words.")
_command(
    "test", "Write or extend tests for a module (done when more tests pass).", "The module, e.g. calc.py."
)
_command("generate", "Write code from a signature and docstring; the tests decide.", "What to write.")
_command("explain", "Explain a file or one function/class in it.", "PATH or PATH:SYMBOL.")
_command(
    "migrate",
    "Rewrite deprecated APIs (imp, distutils, utcnow ...); tests before and after.",
    "e.g. 'to 3.12'.",
)
_command("ask", "Answer from the workspace's docs, with citations.", "The question.")


def register(app: typer.Typer) -> None:
    """Entry point of the ``strata.commands`` group: adds ``strata code``."""
    app.add_typer(code_app, name="code")
