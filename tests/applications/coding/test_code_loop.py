"""The edit–test loop through a live gateway (SDK + API key), with a scripted model.

The scripted model returns wrong, invalid and out-of-workspace patches: the loop must never claim
success unless the final sandboxed run passed, and must leave the user's folder untouched then.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from applications.coding.loop import EditTestLoop, LoopSettings
from applications.coding.patches import PatchError, apply_patch
from applications.coding.report import CodeReport
from applications.coding.sandbox import Sandbox, SandboxLimits
from applications.coding.workspace import OutsideWorkspace, Workspace
from model_layer.errors import ValidationException
from model_layer.sdk import StrataClient
from tests.applications.coding.code_harness import MODEL, live_gateway
from tests.model_layer.agents.scripted import text

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
TEST = (
    "from calc import add, mul\n\n\n"
    "def test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_mul():\n    assert mul(2, 3) == 6\n"
)


def patch(path: str, search: str, replace: str) -> str:
    return f"Here is the fix.\n\n{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


GOOD = patch("calc.py", "    return a - b\n", "    return a + b\n")
WRONG = patch("calc.py", "    return a - b\n", "    return a * b\n")  # parses, still fails
BROKEN = patch("calc.py", "    return a - b\n", "    return a +\n")  # does not parse
OUTSIDE = patch("../calc.py", "", "def add(a, b):\n    return a + b\n")
ABSOLUTE = patch("/tmp/evil.py", "", "X = 1\n")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with live_gateway(tmp_path_factory.mktemp("gateway")) as gw:
        yield gw


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "calc.py").write_text(CALC)
    (root / "test_calc.py").write_text(TEST)
    return root


def fix(gateway, root: Path, *answers, attempts: int = 3) -> CodeReport:
    gateway.model.queue.clear()
    gateway.model.script(*[text(a) for a in answers])
    report = CodeReport("fix", str(root))
    with StrataClient(gateway.url, api_key=gateway.api_key) as client, Workspace(root) as ws:
        loop = EditTestLoop(
            client, Sandbox(SandboxLimits(wall_s=60)), LoopSettings(MODEL, max_attempts=attempts)
        )
        return loop.run(ws, "make the tests pass", report)


@needs_bwrap
def test_wrong_patches_are_never_reported_as_success(gateway, project):
    report = fix(gateway, project, WRONG, BROKEN, OUTSIDE)
    assert report.status == "not_fixed"
    assert [c.result.split(":")[0] for c in report.model_calls] == [
        "patch applied",
        "invalid patch",
        "refused",
    ]
    assert [r.outcome for r in report.runs] == ["failed", "failed"]  # before, and after WRONG
    assert not report.final_run.passed
    assert report.written == [] and (project / "calc.py").read_text() == CALC
    assert not (project.parent / "calc.py").exists()
    assert "does not pass" in report.message or "still do not pass" in report.message


@needs_bwrap
def test_a_good_patch_after_a_bad_one_is_verified_and_written(gateway, project):
    report = fix(gateway, project, "I think it is fine now.", GOOD)
    assert report.status == "fixed"
    assert [r.outcome for r in report.runs] == ["failed", "passed"]
    assert report.final_run.counts.passed == 2
    assert report.model_calls[0].result.startswith("invalid patch: the reply has no SEARCH/REPLACE")
    assert report.written == ["calc.py"] and "return a + b" in (project / "calc.py").read_text()
    assert "+    return a + b" in report.files_changed["calc.py"]
    # The model saw why its first reply was refused.
    second_request = gateway.model.requests[-1]
    assert "not a usable patch" in str(second_request.messages[-1])


@needs_bwrap
def test_passing_tests_need_no_model_and_a_workspace_without_tests_is_reported(gateway, project, tmp_path):
    (project / "calc.py").write_text(CALC.replace("a - b", "a + b"))
    gateway.model.requests.clear()
    assert fix(gateway, project, GOOD).status == "already_passing"
    assert gateway.model.requests == []
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "calc.py").write_text(CALC)
    assert fix(gateway, bare, GOOD).status == "no_tests"


def test_patches_apply_all_or_nothing(project):
    with Workspace(project) as ws:
        two = GOOD + patch("test_calc.py", "nothing like this\n", "x\n")
        with pytest.raises(PatchError, match=r"is not in test_calc\.py"):
            apply_patch(ws, two)
        assert ws.changed() == []
        with pytest.raises(OutsideWorkspace):
            apply_patch(ws, ABSOLUTE)
        with pytest.raises(PatchError, match="would not parse"):
            apply_patch(ws, BROKEN)
        # Trailing whitespace dropped by the model still matches; a new file via empty SEARCH.
        assert apply_patch(ws, patch("calc.py", "    return a - b   \n", "    return a + b\n")) == ["calc.py"]
        assert apply_patch(ws, "`util.py`\n<<<<<<< SEARCH\n=======\nZ = 3\n>>>>>>> REPLACE") == ["util.py"]
        assert ws.changed() == ["calc.py", "util.py"]


def context_limited(window_chars: int):
    """A model with a small context window, as the embedded SmolLM2 (2,048 tokens a request) is:
    a prompt over it is rejected the way llama.cpp's rejection reaches the gateway (a 400)."""

    def policy(request):
        size = sum(len(b.get("text", "")) for m in request.messages for b in m["content"])
        if size > window_chars:
            raise ValidationException(
                f"the model rejected the request: request ({size // 3} tokens) exceeds the available "
                f"context size ({window_chars // 3} tokens), try increasing it"
            )
        return text(answers.pop(0))

    answers: list[str] = []
    return policy, answers


@needs_bwrap
def test_the_prompt_shrinks_to_the_window_and_stays_the_same_size(gateway, project):
    # Code unrelated to the bug makes the first prompt too big for a 2,048-token model.
    (project / "big.py").write_text(
        "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(300))
    )
    policy, answers = context_limited(window_chars=9000)
    swapped = patch("calc.py", "    return a - b\n", "    return b - a\n")  # parses, still fails
    answers += [swapped, BROKEN, patch("calc.py", "    return b - a\n", "    return a + b\n")]
    gateway.model.queue.clear()
    gateway.model.policy = policy
    try:
        report = fix(gateway, project, attempts=4)
    finally:
        gateway.model.policy = None
    assert report.notes[0].startswith("the model call failed") and "context size" in report.notes[0]
    assert report.notes[1].startswith("the prompt was over the model's context window: cut to")
    assert report.status == "fixed" and len(report.model_calls) == 3  # one attempt went on the cut
    sizes = [
        sum(len(b.get("text", "")) for m in r.messages for b in m["content"])
        for r in gateway.model.requests[-3:]
    ]
    # The last reply and its outcome, not the whole history: the prompt does not grow per attempt.
    assert max(sizes) <= 9000 and max(sizes) - min(sizes) < 3500
    assert "return b - a" in str(gateway.model.requests[-2].messages[1:])  # the reply, shown back once
    assert "return b - a" not in str(gateway.model.requests[-1].messages[1:])
