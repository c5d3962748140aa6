"""The one report every ``strata code`` command produces (``--json`` prints it as is).

Its ``status`` is derived from measurements, never from what a model said: a fix is ``fixed`` only
when the last sandboxed run passed (see :func:`verified_status`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from applications.coding.results import SandboxRun


@dataclass
class ModelCall:
    attempt: int
    model_id: str
    input_tokens: int
    output_tokens: int
    latency_ms: int
    result: str  # "patch applied: a.py" / "invalid patch: ..." / "refused: ..." / "answer"


@dataclass
class CodeReport:
    command: str
    workspace: str
    status: str = "pending"
    message: str = ""
    runs: list[SandboxRun] = field(default_factory=list)
    files_changed: dict[str, str] = field(default_factory=dict)  # path -> unified diff
    written: list[str] = field(default_factory=list)
    model_calls: list[ModelCall] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)  # deterministic rewrites
    left: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    answer: str | None = None

    @property
    def final_run(self) -> SandboxRun | None:
        return self.runs[-1] if self.runs else None

    def to_dict(self) -> dict[str, Any]:
        notes = list(self.notes)
        for run in self.runs:  # the fallback's "weaker isolation" note belongs in every report
            notes += [n for n in run.notes if n.startswith("weaker") and n not in notes]
        return {
            "command": self.command,
            "workspace": self.workspace,
            "status": self.status,
            "message": self.message,
            "runs": [r.to_dict() for r in self.runs],
            "files_changed": [{"path": p, "diff": d} for p, d in self.files_changed.items()],
            "written": self.written,
            "model_calls": [vars(c) for c in self.model_calls],
            "citations": self.citations,
            "applied": self.applied,
            "left": self.left,
            "notes": notes,
            "answer": self.answer,
        }


def verified_status(report: CodeReport, success: str, failure: str) -> str:
    """``success`` only when the last sandboxed run passed; the model's words never decide it."""
    final = report.final_run
    return success if final is not None and final.passed else failure
