"""Generation is graded on hidden tests the model never sees.

The bench's own generation stage (``bench/coding.py``'s ``bench_generation``) runs over a live
gateway with a scripted model; every request the model received (system prompt and messages,
which carry the workspace's files and test output) is searched for the hidden tests' lines. The
task data is checked too: no visible file carries a hidden test.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from applications.coding.companion import CodeSettings
from applications.coding.sandbox import SandboxLimits
from tests.applications.coding.code_harness import EMBED, MODEL, live_gateway
from tests.model_layer.agents.scripted import text

ROOT = Path(__file__).resolve().parents[3]
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = load("bench_coding_for_tests", ROOT / "bench" / "coding.py")
TASKS = BENCH.load_tasks()


def hidden_lines(task: dict) -> list[str]:
    """The hidden test's own lines (its imports are the visible test's too)."""
    return [line.strip() for line in task["hidden"].splitlines() if line.strip() and "import" not in line]


def test_no_visible_file_carries_a_hidden_test():
    assert len(TASKS.GENERATION) >= 10
    for task in TASKS.GENERATION:
        visible = "\n".join(task["files"].values())
        assert hidden_lines(task), task["id"]
        for line in hidden_lines(task):
            if line.startswith("def "):
                continue  # test_h's name is checked below, where it could leak: the prompts
            assert line not in visible, (task["id"], line)


class ScriptedOracle:
    """The bench sets ``oracle.answer`` per task; here that scripts the test gateway's model."""

    def __init__(self, gateway):
        self.gateway = gateway

    @property
    def answer(self) -> str:
        raise AttributeError("write-only")

    @answer.setter
    def answer(self, value: str) -> None:
        self.gateway.model.queue.clear()
        self.gateway.model.script(text(value))


@needs_bwrap
def test_the_generate_prompts_never_contain_the_hidden_tests(tmp_path):
    with live_gateway(tmp_path / "gateway") as gw:
        settings = CodeSettings(
            url=gw.url, api_key=gw.api_key, model_id=MODEL, embedding_model=EMBED,
            limits=SandboxLimits(wall_s=60),
        )  # fmt: skip
        rows = BENCH.bench_generation(TASKS, settings, ScriptedOracle(gw), tmp_path / "scratch", limit=3)
        requests = list(gw.model.requests)
    assert [r["hidden_pass"] for r in rows] == [True] * 3  # the hidden tests did run, afterwards
    assert len(requests) == 3
    for task, request in zip(TASKS.GENERATION, requests, strict=False):
        seen = f"{request.system} {request.messages}"
        assert "def test_ex" in seen  # the visible example test is in the prompt ...
        for line in [*hidden_lines(task), "test_hidden"]:  # ... the hidden one is not
            assert line.replace("'", "\\'") not in seen and line not in seen, (task["id"], line)
