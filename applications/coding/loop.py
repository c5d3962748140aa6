"""The edit–test loop: ask the model for a patch, apply it if it is one, run the tests, repeat.

The model is reached only through :class:`model_layer.sdk.StrataClient` (Converse), so any model
the gateway routes serves it. Attempts are bounded; a reply that is not a valid patch, or that
reaches outside the workspace, counts as an attempt and its reason goes back to the model. The
outcome comes from the sandbox: the loop says ``fixed`` only when the final run passed, and the
user's folder is written only then.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from applications.coding.patches import FORMAT_HELP, PatchError, apply_patch
from applications.coding.report import CodeReport, ModelCall, verified_status
from applications.coding.results import SandboxRun
from applications.coding.sandbox import Sandbox
from applications.coding.workspace import OutsideWorkspace, Workspace
from model_layer.sdk import StrataAPIError, StrataClient

SYSTEM = (
    "You are a careful Python engineer working on the files shown. Make the smallest change that "
    "does what is asked and makes the tests pass. Never edit files outside the workspace. " + FORMAT_HELP
)
OUTPUT_TAIL = 3000
CONTEXT_CHARS = 24000
MIN_CONTEXT_CHARS = 1500
GOAL_NOT_MET = "The tests pass, but no new test was added. Add tests as asked."
Goal = Callable[[SandboxRun, SandboxRun], bool]


@dataclass
class LoopSettings:
    model_id: str
    max_attempts: int = 3
    max_tokens: int = 1024
    temperature: float = 0.0


def workspace_context(ws: Workspace, budget: int = CONTEXT_CHARS, mentioned: str = "") -> str:
    """The workspace's Python files, each under its path, as many as the budget holds.

    Files named in ``mentioned`` (the failing run's traceback) come first, then the smaller ones:
    with a small window the code the failure points at is what the model must see.
    """
    bodies = {rel: ws.read(rel) for rel in ws.files(".py")}
    order = sorted(bodies, key=lambda rel: (rel not in mentioned, len(bodies[rel]), rel))
    parts, left_out, used = [], [], 0
    for rel in order:
        if used + len(bodies[rel]) > budget:
            left_out.append(rel)
            continue
        parts.append(f"{rel}\n```python\n{bodies[rel]}```")
        used += len(bodies[rel])
    if left_out:
        parts.append(f"(left out, the context budget ran out: {', '.join(sorted(left_out))})")
    return "\n\n".join(parts)


class EditTestLoop:
    def __init__(self, client: StrataClient, sandbox: Sandbox, settings: LoopSettings):
        self.client, self.sandbox, self.settings = client, sandbox, settings

    def _ask(self, messages: list[dict], attempt: int, report: CodeReport) -> str | None:
        try:
            answer = self.client.converse(
                self.settings.model_id,
                messages,
                system=SYSTEM,
                inference_config={
                    "maxTokens": self.settings.max_tokens,
                    "temperature": self.settings.temperature,
                },
            )
        except StrataAPIError as exc:
            report.notes.append(f"the model call failed: {exc}")
            return None
        report.model_calls.append(
            ModelCall(
                attempt,
                self.settings.model_id,
                answer.usage.input_tokens,
                answer.usage.output_tokens,
                answer.latency_ms,
                "pending",
            )
        )
        return answer.text

    def run(
        self,
        ws: Workspace,
        instruction: str,
        report: CodeReport,
        *,
        write: bool = True,
        fix: bool = True,
        require_tests: bool = True,
        goal: Goal | None = None,
        names: tuple[str, str] = ("fixed", "not_fixed"),
        first: SandboxRun | None = None,
        unmet: str = GOAL_NOT_MET,
    ) -> CodeReport:
        """Loop until the goal is met or the attempts run out; ``report`` gets every run and call.

        With ``fix`` (``strata code fix``) passing tests mean there is nothing to fix: no model call.
        ``goal(first_run, run)`` says when a run is done (default: it passed; it must pass anyway);
        ``unmet`` is what the model hears when its patch passes the tests but misses the goal.
        ``first`` is a run of the staged copy the caller already made (``migrate``'s after-run).
        """
        start = len(report.runs)  # success is judged on this loop's own runs only
        first = first or self.sandbox.run_tests(ws.staging)
        report.runs.append(first)
        if first.outcome == "no_tests" and require_tests:
            report.status, report.message = (
                "no_tests",
                "the workspace has no tests, so no change can be verified",
            )
            return report
        if fix and first.passed:
            report.status, report.message = "already_passing", "the tests already pass: nothing to fix"
            return report
        done = goal or (lambda _first, run: run.passed)
        self._attempts(ws, instruction, report, first, lambda run: done(first, run), unmet)
        success, failure = names
        report.status = verified_status(report, success, failure)
        patched = len(report.runs) - start >= 2  # at least one patch was applied and tested
        if report.status == success and (not patched or not done(first, report.runs[-1])):
            report.status = failure
        report.files_changed = ws.diff()
        calls = len(report.model_calls)
        if report.status == success:
            report.written = ws.write_back() if write else []
            report.message = f"the tests pass after {calls} model call(s)"
        elif report.runs[-1].passed and patched:
            report.message = (
                f"the tests pass, but the goal was not met after {calls} model call(s); nothing was written"
            )
        else:
            report.message = (
                f"the tests still do not pass after {calls} model call(s); the workspace was not changed"
            )
        return report

    def _attempts(
        self, ws: Workspace, instruction: str, report: CodeReport, first: SandboxRun,
        done: Callable[[SandboxRun], bool], unmet: str,
    ) -> None:  # fmt: skip
        """Ask, patch, test until done or out of attempts.

        Each request is the task with the workspace as it is now (earlier patches applied), then
        the last reply and what came of it — not the whole history, so the prompt stays the same
        size from attempt to attempt (a small local model serves 2,048 tokens a request). A prompt
        over the model's context window is cut in half and tried again, as an attempt.
        """
        budget, previous = CONTEXT_CHARS, []
        for attempt in range(1, self.settings.max_attempts + 1):
            tail = budget // 8  # of the test output: 3,000 characters at the full budget
            prompt = (
                f"Task: {instruction}\n\nWorkspace files (as they are now):\n\n"
                f"{workspace_context(ws, budget, first.output)}\n\n"
                f"Test run before any change ({first.outcome}):\n{first.output[-tail:]}"
            )
            messages = [{"role": "user", "content": [{"text": prompt}]}, *previous]
            reply = self._ask(messages, attempt, report)
            if reply is None:
                if not _over_context(report) or budget <= MIN_CONTEXT_CHARS:
                    return
                budget = max(MIN_CONTEXT_CHARS, fit_chars(budget, report.notes[-1], self.settings.max_tokens))
                report.notes.append(
                    f"the prompt was over the model's context window: cut to {budget} characters"
                )
                continue
            feedback = self._try_patch(ws, reply, report, tail)
            if feedback is None and done(report.runs[-1]):
                return
            previous = [
                {"role": "assistant", "content": [{"text": reply}]},
                {"role": "user", "content": [{"text": feedback or unmet}]},
            ]

    def _try_patch(
        self, ws: Workspace, reply: str, report: CodeReport, tail: int = OUTPUT_TAIL
    ) -> str | None:
        """Apply and test one reply; the feedback for the next attempt, or None when it passed."""
        call = report.model_calls[-1]
        try:
            changed = apply_patch(ws, reply)
        except OutsideWorkspace as exc:
            call.result = f"refused: {exc}"
            return f"Your patch was refused: {exc}. Edit only files inside the workspace. {FORMAT_HELP}"
        except PatchError as exc:
            call.result = f"invalid patch: {exc}"
            return f"Your reply was not a usable patch: {exc}. {FORMAT_HELP}"
        call.result = f"patch applied: {', '.join(changed)}"
        run = self.sandbox.run_tests(ws.staging)
        report.runs.append(run)
        if run.passed:
            return None
        return f"After your patch the tests are {run.outcome}:\n{run.output[-tail:]}\nFix it."


# (prompt tokens, window) in the over-the-window errors: llama.cpp's own, then the gateway's
# (ContextWindowExceeded) with and without maxTokens.
_SIZES = (
    re.compile(r"\((\d+) tokens\) exceeds the available context size \((\d+) tokens\)"),
    re.compile(r"exceed context limit: (\d+) \+ \d+ > (\d+)"),
    re.compile(r"context window: (\d+) tokens > (\d+) maximum"),
)


def _over_context(report: CodeReport) -> bool:
    """Whether the last model call failed for a prompt longer than the model's context window."""
    last = report.notes[-1] if report.notes else ""
    return last.startswith("the model call failed") and over_context(last)


def over_context(error: str) -> bool:
    return "context" in error.lower() and ("exceed" in error.lower() or "too long" in error.lower())


def fit_chars(chars: int, error: str, max_tokens: int) -> int:
    """A smaller character budget for a prompt the model rejected as over its context window:
    scaled to fit when the error gives the sizes (llama.cpp's message, as the local provider
    passes it on), else halved."""
    sizes = next((m for m in (pattern.search(error) for pattern in _SIZES) if m), None)
    if sizes is None:
        return chars // 2
    requested, window = int(sizes.group(1)), int(sizes.group(2))
    room = window - max_tokens  # the reply needs its share of the window
    return int(chars * 0.8 * max(room, window // 4) / requested)
