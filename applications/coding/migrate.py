"""``migrate``: deterministic rewriters first, the tests run before and after, both reported.

The rewriters are this package's codemods (removed or deprecated APIs: ``imp``, ``distutils``,
``datetime.utcnow``, ``asyncio.get_event_loop``) and ruff's pyupgrade rules (``UP``: old typing
syntax, ``timezone.utc`` aliases, outdated version checks ...) for a target Python version. ruff
only parses the code, so it runs on the host; the tests run in the sandbox. The user's folder is
written only when the tests pass after the migration.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from applications.coding.codemods import rewrite_source
from applications.coding.results import SandboxRun
from applications.coding.sandbox import Sandbox
from applications.coding.workspace import Workspace

DEFAULT_TARGET = "py312"


@dataclass
class Migration:
    status: str  # migrated | nothing_to_migrate | regressed | tests_failing
    target: str
    before: SandboxRun
    after: SandboxRun | None
    applied: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    diff: dict[str, str] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "target": self.target,
            "runs": [r.to_dict() for r in (self.before, self.after) if r is not None],
            "applied": self.applied,
            "left": self.left,
            "files_changed": [{"path": p, "diff": d} for p, d in self.diff.items()],
            "written": self.written,
        }


def target_version(instruction: str, default: str = DEFAULT_TARGET) -> str:
    """``py3XX`` from an instruction such as "move to Python 3.12" (the default when none)."""
    match = re.search(r"\b3\.(\d{1,2})\b", instruction)
    return f"py3{match.group(1)}" if match else default


def ruff_binary() -> str | None:
    return shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


def run_codemods(ws: Workspace) -> tuple[list[str], list[str]]:
    applied, left = [], []
    for rel in ws.files(".py"):
        result = rewrite_source(ws.read(rel))
        if result.changed:
            ws.write(rel, result.source)
        applied += [f"{rel}: {line}" for line in result.applied]
        left += [f"{rel}: {line}" for line in result.left]
    return applied, left


def deprecated_uses(ws: Workspace) -> list[str]:
    """Every deprecated use still in the staged copy (with or without a codemod), one a line."""
    uses = []
    for rel in ws.files(".py"):
        result = rewrite_source(ws.read(rel))
        uses += [f"{rel}: {line}" for line in [*result.applied, *result.left] if "does not parse" not in line]
    return uses


def run_ruff_upgrades(ws: Workspace, target: str) -> tuple[list[str], list[str]]:
    """ruff's safe pyupgrade fixes; returns (fixes applied, notes)."""
    ruff = ruff_binary()
    if ruff is None:
        return [], ["ruff is not installed: its pyupgrade fixes were skipped"]
    base = [ruff, "check", "--select", "UP", "--target-version", target, "--isolated", "--no-cache"]
    listed = subprocess.run(
        [*base, "--output-format", "json", "--exit-zero", "."],
        cwd=ws.staging, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if listed.returncode != 0:
        return [], [f"ruff could not check the workspace: {listed.stderr.strip()[:200]}"]
    fixable = [
        f"{Path(d['filename']).relative_to(ws.staging).as_posix()}: line {d['location']['row']}: "
        f"{d['code']} {d['message']}"
        for d in json.loads(listed.stdout or "[]")
        if d.get("fix") and d["fix"].get("applicability") == "safe"
    ]
    if fixable:
        subprocess.run(
            [*base, "--fix", "--exit-zero", "--quiet", "."],
            cwd=ws.staging, capture_output=True, timeout=120, check=False,
        )  # fmt: skip
    return fixable, []


def migrate(ws: Workspace, sandbox: Sandbox, instruction: str = "", *, write: bool = True) -> Migration:
    """Rewrite the staged copy, run the tests before (the user's files) and after (the copy)."""
    target = target_version(instruction)
    before = sandbox.run_tests(ws.root)
    applied, left = run_codemods(ws)
    fixes, notes = run_ruff_upgrades(ws, target)
    applied += [f"ruff {fix}" for fix in fixes]
    left += notes
    if not ws.changed():
        return Migration("nothing_to_migrate", target, before, None, applied, left)
    after = sandbox.run_tests(ws.staging)
    if after.passed:
        status = "migrated"
    elif before.passed:
        status = "regressed"
    else:
        status = "tests_failing"
    written = ws.write_back() if write and after.passed else []
    return Migration(status, target, before, after, applied, left, ws.diff(), written)
