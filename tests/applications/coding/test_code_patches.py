"""Structured patches that delete files: applied all-or-nothing, refused outside the workspace.

A deletion is a path followed by a ``<<<<<<< DELETE`` line. It lands in the staged copy first; the
user's file goes only when the final sandboxed run passed (write-back), and a deletion aimed
outside the workspace (``..``, an absolute path, a link pointing out) or at a test file is refused
with nothing changed.
"""

from __future__ import annotations

import os
import shutil

import pytest

from applications.coding.loop import EditTestLoop, LoopSettings
from applications.coding.patches import PatchError, apply_patch, parse_blocks
from applications.coding.report import CodeReport
from applications.coding.sandbox import Sandbox, SandboxLimits
from applications.coding.workspace import OutsideWorkspace, Workspace
from model_layer.sdk import StrataClient
from tests.applications.coding.code_harness import MODEL, live_gateway
from tests.model_layer.agents.scripted import text

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


def delete(path: str) -> str:
    return f"{path}\n<<<<<<< DELETE\n"


def edit(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "pkg" / "compat.py").write_text("OLD = True\n")
    (root / "test_calc.py").write_text("from calc import add\n\ndef test():\n    assert add(1, 2) == 3\n")
    return root


def test_a_deletion_is_staged_diffed_and_written_back(project):
    blocks = parse_blocks("Remove the shim:\n\n`pkg/compat.py`\n<<<<<<< DELETE FILE\n")
    assert [(b.path, b.delete) for b in blocks] == [("pkg/compat.py", True)]
    with Workspace(project) as ws:
        reply = edit("calc.py", "    return a + b\n", "    return b + a\n") + delete("pkg/compat.py")
        assert apply_patch(ws, reply) == ["calc.py", "pkg/compat.py"]
        assert (project / "pkg" / "compat.py").exists()  # only the staged copy changed so far
        assert ws.changed() == ["calc.py", "pkg/compat.py"]
        diff = ws.diff()["pkg/compat.py"]
        assert "+++ /dev/null" in diff and "-OLD = True" in diff
        assert ws.write_back() == ["calc.py", "pkg/compat.py"]
    assert not (project / "pkg" / "compat.py").exists()
    assert "b + a" in (project / "calc.py").read_text()


def test_deletions_outside_the_workspace_are_refused(project, tmp_path):
    outside = tmp_path / "precious.py"
    outside.write_text("KEEP = 1\n")
    os.symlink(outside, project / "link.py")
    os.symlink(tmp_path, project / "up")
    with Workspace(project) as ws:
        for bad in ("../precious.py", str(outside), "~/precious.py", "up/precious.py", "link.py", ".git/x"):
            with pytest.raises(OutsideWorkspace):
                apply_patch(ws, edit("calc.py", "    return a + b\n", "    return a * b\n") + delete(bad))
        assert ws.changed() == []  # all or nothing: the good block was not applied either
    assert outside.read_text() == "KEEP = 1\n"


def test_bad_deletions_are_refused_whole(project):
    with Workspace(project) as ws:
        with pytest.raises(PatchError, match="is a test file"):
            apply_patch(ws, delete("test_calc.py"))
        with pytest.raises(PatchError, match="does not exist"):
            apply_patch(ws, delete("nothing.py"))
        with pytest.raises(PatchError, match="another block"):
            apply_patch(ws, delete("calc.py") + edit("calc.py", "    return a + b\n", "    return 0\n"))
        with pytest.raises(PatchError, match="another block"):
            apply_patch(ws, edit("calc.py", "    return a + b\n", "    return 0\n") + delete("calc.py"))
        assert ws.changed() == []


@needs_bwrap
def test_the_loop_fixes_a_bug_by_deleting_a_shadowing_module(tmp_path):
    # A stray json.py in the project shadows the standard library; deleting it is the fix.
    root = tmp_path / "project"
    root.mkdir()
    (root / "json.py").write_text("def dumps(value):\n    return 'not json'\n")
    (root / "config.py").write_text("import json\n\ndef render(d):\n    return json.dumps(d)\n")
    (root / "test_config.py").write_text(
        'from config import render\n\ndef test():\n    assert render({"a": 1}) == \'{"a": 1}\'\n'
    )
    with live_gateway(tmp_path / "gateway") as gw:
        gw.model.script(text(delete("../json.py")), text("json.py\n<<<<<<< DELETE\n"))
        report = CodeReport("fix", str(root))
        with StrataClient(gw.url, api_key=gw.api_key) as client, Workspace(root) as ws:
            loop = EditTestLoop(
                client, Sandbox(SandboxLimits(wall_s=60)), LoopSettings(MODEL, max_attempts=2)
            )
            loop.run(ws, "render() does not return JSON", report)
    assert report.model_calls[0].result.startswith("refused")
    assert report.model_calls[1].result == "patch applied: json.py"
    assert report.status == "fixed" and [r.outcome for r in report.runs] == ["failed", "passed"]
    assert report.written == ["json.py"] and not (root / "json.py").exists()
    assert "+++ /dev/null" in report.files_changed["json.py"]
    assert not (tmp_path / "json.py").exists()
