"""The companion's commands as functions: fix, generate, test, explain, migrate, ask.

Each takes :class:`CodeSettings` (where the gateway is, which model, how many attempts) and a
workspace folder, and returns one :class:`~applications.coding.report.CodeReport`. The CLI is a
thin layer over these; the bench calls them directly.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from applications.coding.ask import answer_once, run_ask
from applications.coding.loop import EditTestLoop, LoopSettings, fit_chars, over_context
from applications.coding.migrate import Migration, deprecated_uses, migrate
from applications.coding.report import CodeReport
from applications.coding.results import SandboxRun
from applications.coding.sandbox import Sandbox, SandboxLimits
from applications.coding.workspace import Workspace
from model_layer.sdk import RetryPolicy, StrataClient

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_MODEL = "local.smollm2-135m-instruct-v1:0"
DEFAULT_EMBEDDINGS = "amazon.minilm-l6-v2:0"
EXPLAIN = "Explain what this code does, how and why, for a developer new to it."
EXPLAINED = "answered by the model (not verified by tests)"


@dataclass
class CodeSettings:
    url: str = DEFAULT_URL
    api_key: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    model_id: str = DEFAULT_MODEL
    embedding_model: str = DEFAULT_EMBEDDINGS
    attempts: int = 3
    max_tokens: int = 512  # a SEARCH/REPLACE patch for one bug fits; a small local model stops sooner
    timeout_s: float = 300.0
    write: bool = True
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    @classmethod
    def from_env(cls, **overrides: Any) -> CodeSettings:
        env = os.environ
        values: dict[str, Any] = {
            "url": env.get("STRATA_CODE_URL", DEFAULT_URL),
            "api_key": env.get("STRATA_CODE_API_KEY") or env.get("STRATA_API_KEY"),
            "access_key": env.get("STRATA_CODE_ACCESS_KEY_ID"),
            "secret_key": env.get("STRATA_CODE_SECRET_ACCESS_KEY"),
            "model_id": env.get("STRATA_CODE_MODEL", DEFAULT_MODEL),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def client_options(self) -> dict[str, Any]:
        auth: dict[str, Any] = {"api_key": self.api_key} if self.api_key else {}
        if self.access_key:
            auth = {"access_key": self.access_key, "secret_key": self.secret_key}
        return {**auth, "timeout": self.timeout_s, "retry": RetryPolicy(max_attempts=2)}

    def client(self) -> StrataClient:
        return StrataClient(self.url, **self.client_options())

    def loop(self, client: StrataClient) -> EditTestLoop:
        settings = LoopSettings(self.model_id, max_attempts=self.attempts, max_tokens=self.max_tokens)
        return EditTestLoop(client, Sandbox(self.limits), settings)


def _looped(
    command: str, settings: CodeSettings, workspace: Path, instruction: str, **options: Any
) -> CodeReport:
    report = CodeReport(command, str(workspace))
    with Workspace(workspace, settings.limits) as ws, settings.client() as client:
        return settings.loop(client).run(ws, instruction, report, write=settings.write, **options)


def run_fix(settings: CodeSettings, workspace: Path, instruction: str) -> CodeReport:
    """Find and fix a bug so the workspace's tests pass."""
    return _looped("fix", settings, workspace, instruction)


def run_generate(settings: CodeSettings, workspace: Path, instruction: str) -> CodeReport:
    """Write code for an instruction (a signature and docstring); the tests decide if it is done."""
    task = f"{instruction}\nWrite the implementation; keep the existing tests unchanged."
    return _looped("generate", settings, workspace, task, fix=False, names=("generated", "not_generated"))


def _more_tests(first: SandboxRun, final: SandboxRun) -> bool:
    return final.passed and final.counts.passed > first.counts.passed


def run_test(settings: CodeSettings, workspace: Path, target: str) -> CodeReport:
    """Write or extend tests for a module: done when more tests pass than before."""
    task = (
        f"Write pytest tests for {target} in a new or existing test file (test_*.py). They must pass "
        "against the current code; do not change the code under test."
    )
    return _looped(
        "test", settings, workspace, task, fix=False, require_tests=False, goal=_more_tests,
        names=("tests_added", "tests_not_added"),
    )  # fmt: skip


def _symbol_source(source: str, symbol: str) -> tuple[str, int, int] | None:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == symbol:
            lines = source.splitlines(keepends=True)
            return "".join(lines[node.lineno - 1 : node.end_lineno]), node.lineno, node.end_lineno
    return None


def _explain_target(ws: Workspace, target: str) -> tuple[str, str, int, int]:
    path, _, symbol = target.partition(":")
    source = ws.read(path)
    first, last = 1, len(source.splitlines())
    if symbol:
        found = _symbol_source(source, symbol) if path.endswith(".py") else None
        if found is None:
            raise ValueError(f"no function or class named {symbol!r} in {path}")
        source, first, last = found
    return ws.resolve(path), source, first, last


def run_explain(settings: CodeSettings, workspace: Path, target: str) -> CodeReport:
    """Explain a file or one of its functions/classes (``PATH[:SYMBOL]``); cites what it read.

    A source too long for the model's context window is cut to fit (once) and the citation and a
    note say which lines were explained.
    """
    report = CodeReport("explain", str(workspace))
    with Workspace(workspace, settings.limits) as ws:
        try:
            path, source, first, last = _explain_target(ws, target)
        except (ValueError, SyntaxError) as exc:
            report.status, report.message = "not_found", str(exc)
            return report
    answer_once(settings, report, f"{EXPLAIN}\n\n{path}\n```\n{source}```", None, EXPLAINED)
    if report.status == "model_error" and over_context(report.message):
        chars = fit_chars(len(source), report.message, settings.max_tokens)
        kept = source[:chars].rsplit("\n", 1)[0] + "\n"
        last = first + kept.count("\n") - 1
        report.notes.append(
            f"{path} is too long for the model's context window: lines {first}-{last} explained"
        )
        answer_once(settings, report, f"{EXPLAIN}\n\n{path}\n```\n{kept}```", None, EXPLAINED)
    if report.status == "answered":
        report.citations = [{"path": path, "lines": [first, last]}]
    return report


MIGRATE_MESSAGES = {
    "migrated": "the tests pass after the migration and no deprecated use is left",
    "nothing_to_migrate": "no deprecated use found; nothing was changed",
    "partly_migrated": (
        "the tests pass, but deprecated uses are left (see left) that neither the rewriters nor the "
        "model removed; only the rewriters' changes, if any, were written"
    ),
    "regressed": "the tests passed before and fail after: the migration was not written",
    "tests_failing": "the tests fail after the migration: it was not written",
    "no_tests": "the workspace has no tests, so no migration can be verified; nothing was written",
}
LEFT_FOR_MODEL = (
    "Finish migrating this code to Python {version}. Deterministic rewriters already ran; these "
    "deprecated uses are left, replace each with its modern equivalent without changing behaviour "
    "(keep the tests passing; do not edit the tests):\n{left}"
)
STILL_LEFT = "The tests pass, but these deprecated uses are still there: {}. Replace them."


def _model_migration(settings: CodeSettings, ws: Workspace, result: Migration, report: CodeReport) -> bool:
    """Hand what the rewriters left to the model, within the attempt bound; True if it finished.

    When it does not finish, its edits are undone and the staged copy is tested again, so the
    report's last run is always the state that is written (or not).
    """
    left = deprecated_uses(ws)
    version = f"{result.target[2]}.{result.target[3:]}"
    task = LEFT_FOR_MODEL.format(version=version, left="\n".join(f"- {line}" for line in left))
    first = result.after or result.before  # the staged copy as the rewriters left it
    report.runs = [result.before] if result.after is not None else []
    snapshot = ws.snapshot()
    with settings.client() as client:
        loop = settings.loop(client)
        loop.run(
            ws, task, report, write=settings.write, fix=False, first=first,
            goal=lambda _first, run: run.passed and not deprecated_uses(ws),
            names=("migrated", "not_migrated"), unmet=STILL_LEFT.format("; ".join(left)),
        )  # fmt: skip
        if report.status == "migrated":
            return True
        ws.restore(snapshot)
        if report.runs[-1] is not first:
            report.runs.append(loop.sandbox.run_tests(ws.staging))
    report.notes.append(f"the model did not finish the migration ({report.status}); its edits were undone")
    return False


def _deterministic_outcome(result: Migration, report: CodeReport, left: list[str]) -> str:
    final = report.runs[-1]
    if result.status not in ("migrated", "nothing_to_migrate") and final is result.after:
        return result.status  # regressed / tests_failing, as the rewriters left it
    if not left:
        return result.status if final.passed or result.after is None else "tests_failing"
    if final.passed:
        return "partly_migrated"
    return "regressed" if result.before.passed else "tests_failing"


def run_migrate(settings: CodeSettings, workspace: Path, instruction: str) -> CodeReport:
    """Deterministic rewriters, then the model for what they left; tests before and after."""
    report = CodeReport("migrate", str(workspace))
    with Workspace(workspace, settings.limits) as ws:
        result = migrate(ws, Sandbox(settings.limits), instruction, write=False)
        report.runs = [r for r in (result.before, result.after) if r is not None]
        report.applied = result.applied
        notes = [line for line in result.left if "does not parse" in line or "ruff" in line]
        if result.before.outcome == "no_tests":
            report.status, report.message, report.left = "no_tests", MIGRATE_MESSAGES["no_tests"], notes
            return report
        if deprecated_uses(ws) and _model_migration(settings, ws, result, report):
            report.left = notes
            report.message = MIGRATE_MESSAGES["migrated"] + f" ({len(report.model_calls)} model call(s))"
            return report
        report.left = deprecated_uses(ws) + notes
        report.status = _deterministic_outcome(result, report, deprecated_uses(ws))
        report.message = MIGRATE_MESSAGES[report.status]
        report.files_changed = ws.diff()
        verified = report.runs[-1].passed and report.status in ("migrated", "partly_migrated")
        report.written = ws.write_back() if settings.write and verified else []
    return report


COMMANDS: dict[str, Callable[[CodeSettings, Path, str], CodeReport]] = {
    "fix": run_fix,
    "generate": run_generate,
    "test": run_test,
    "explain": run_explain,
    "migrate": run_migrate,
    "ask": run_ask,
}
