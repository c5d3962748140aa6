"""Migrations end to end: codemods + ruff, the tests run in the sandbox before and after.

The workspace's pytest.ini turns DeprecationWarning into errors, so the run before the migration
fails on ``imp``/``distutils`` and the run after passes: both runs are real and both reported.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from applications.coding.migrate import migrate, target_version
from applications.coding.sandbox import Sandbox, SandboxLimits
from applications.coding.workspace import OutsideWorkspace, Workspace

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
LIMITS = SandboxLimits(wall_s=60)

CLOCK = """
    import imp
    import json
    from datetime import datetime
    from distutils.util import strtobool
    from typing import List, Optional


    def stamp() -> datetime:
        return datetime.utcnow()


    def flags(values: List[str]) -> List[Optional[int]]:
        return [strtobool(v) for v in values]


    def fresh():
        return imp.reload(json)
"""
TESTS = """
    import clock
    def test_stamp(): assert clock.stamp().tzinfo is None
    def test_flags(): assert clock.flags(["yes", "off"]) == [1, 0]
    def test_reload(): assert clock.fresh().__name__ == "json"
"""


def make(root: Path, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error::DeprecationWarning\n")
    for name, body in files.items():
        (root / name).write_text(textwrap.dedent(body).lstrip())
    return root


@needs_bwrap
def test_a_migration_is_proved_by_the_tests_before_and_after(tmp_path):
    ws_root = make(tmp_path / "ws", **{"clock.py": CLOCK, "test_clock.py": TESTS})
    with Workspace(ws_root) as ws:
        result = migrate(ws, Sandbox(LIMITS), "move off imp and distutils, Python 3.12")
    assert result.target == "py312"
    assert (result.before.outcome, result.after.outcome) == ("error", "passed")
    assert result.after.counts.passed == 3
    assert result.status == "migrated" and result.written == ["clock.py"]
    migrated = (ws_root / "clock.py").read_text()
    assert "import imp\n" not in migrated and "distutils" not in migrated.split('"""')[0]
    assert "def flags(values: list[str]) -> list[int | None]:" in migrated  # ruff's UP fixes
    assert any("ruff" in line for line in result.applied)
    assert "-import imp" in result.diff["clock.py"]


@needs_bwrap
def test_a_migration_that_breaks_a_test_is_reported_and_not_written(tmp_path):
    # distutils' copy_tree returned the copied files; shutil.copytree returns the folder.
    tree = "from distutils.dir_util import copy_tree\n\ndef mirror(a, b):\n    return copy_tree(a, b)\n"
    test = """
        import os, tree
        def test_mirror(tmp_path):
            (tmp_path / "a").mkdir(); (tmp_path / "a" / "f").write_text("x")
            assert tree.mirror(str(tmp_path / "a"), str(tmp_path / "b")) == [str(tmp_path / "b" / "f")]
    """
    ws_root = tmp_path / "ws"
    ws_root.mkdir()
    (ws_root / "tree.py").write_text(tree)
    (ws_root / "test_tree.py").write_text(textwrap.dedent(test))
    with Workspace(ws_root) as ws:
        result = migrate(ws, Sandbox(LIMITS), "off distutils")
    assert (result.before.outcome, result.after.outcome) == ("passed", "failed")
    assert result.status == "regressed" and result.written == []
    assert (ws_root / "tree.py").read_text() == tree  # the user's file is untouched
    assert "shutil.copytree" in result.diff["tree.py"]


@needs_bwrap
def test_nothing_to_migrate_runs_the_tests_once(tmp_path):
    ws_root = make(
        tmp_path / "ws", **{"ok.py": "X = 1\n", "test_ok.py": "import ok\ndef test(): assert ok.X\n"}
    )
    with Workspace(ws_root) as ws:
        result = migrate(ws, Sandbox(LIMITS))
    assert result.status == "nothing_to_migrate" and result.after is None
    assert result.before.outcome == "passed"


def test_target_version_comes_from_the_instruction():
    assert target_version("migrate to Python 3.13 please") == "py313"
    assert target_version("drop imp") == "py312"


def test_paths_outside_the_workspace_are_refused(tmp_path):
    root = make(tmp_path / "ws", **{"a.py": "X = 1\n"})
    (root / ".git").mkdir()
    os.symlink("/etc", root / "etc-link")
    with Workspace(root) as ws:
        for bad in (
            "../x.py",
            "/etc/passwd",
            "~/.bashrc",
            "sub/../../x.py",
            "etc-link/passwd",
            ".git/config",
            "",
        ):
            with pytest.raises(OutsideWorkspace):
                ws.write(bad, "x")
        ws.write("pkg/new.py", "Y = 2\n")
        assert ws.changed() == ["pkg/new.py"]
        assert ws.write_back() == ["pkg/new.py"]
    assert (root / "pkg" / "new.py").read_text() == "Y = 2\n"
    assert not (tmp_path / "x.py").exists()
