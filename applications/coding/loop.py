"""The edit–test loop: ask the model for a patch, apply it if it is one, run the tests, repeat.

The model is reached only through :class:`model_layer.sdk.StrataClient` (Converse), so any model
the gateway routes serves it. Attempts are bounded; a reply that is not a valid patch, or that
reaches outside the workspace, counts as an attempt and its reason goes back to the model. The
outcome comes from the sandbox: the loop says ``fixed`` only when the final run passed, and the
user's folder is written only then.
"""

from __future__ import annotations

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
GOAL_NOT_MET = "The tests pass, but no new test was added. Add tests as asked."
Goal = Callable[[SandboxRun, SandboxRun], bool]


@dataclass
class LoopSettings:
    model_id: str
    max_attempts: int = 3
    max_tokens: int = 1024
    temperature: float = 0.0


def workspace_context(ws: Workspace, budget: int = CONTEXT_CHARS) -> str:
    """The workspace's Python files, each under its path, until the budget runs out."""
    parts, used = [], 0
    for rel in ws.files(".py"):
        body = ws.read(rel)
        if used + len(body) > budget:
            parts.append(f"({rel} and later files left out: the context budget ran out)")
            break
        parts.append(f"{rel}\n```python\n{body}```")
        used += len(body)
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
        messages.append(answer.message)
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
        prompt = (
            f"Task: {instruction}\n\nWorkspace files:\n\n{workspace_context(ws)}\n\n"
            f"Test run ({first.outcome}):\n{first.output[-OUTPUT_TAIL:]}"
        )
        messages: list[dict] = [{"role": "user", "content": [{"text": prompt}]}]
        for attempt in range(1, self.settings.max_attempts + 1):
            reply = self._ask(messages, attempt, report)
            if reply is None:
                break
            feedback = self._try_patch(ws, reply, report)
            if feedback is None and done(first, report.runs[-1]):
                break
            messages.append({"role": "user", "content": [{"text": feedback or unmet}]})
        success, failure = names
        report.status = verified_status(report, success, failure)
        patched = len(report.runs) - start >= 2  # at least one patch was applied and tested
        if report.status == success and (not patched or not done(first, report.runs[-1])):
            report.status = failure
        report.files_changed = ws.diff()
        if report.status == success:
            report.written = ws.write_back() if write else []
            report.message = f"the tests pass after {len(report.model_calls)} model call(s)"
        else:
            report.message = (
                f"the tests still do not pass after {len(report.model_calls)} model call(s); "
                "the workspace was not changed"
            )
        return report

    def _try_patch(self, ws: Workspace, reply: str, report: CodeReport) -> str | None:
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
        return f"After your patch the tests are {run.outcome}:\n{run.output[-OUTPUT_TAIL:]}\nFix it."
