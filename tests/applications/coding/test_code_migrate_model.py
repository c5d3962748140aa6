"""Migrations hand what the deterministic rewriters left to the model, within the attempt bound.

A live gateway with a scripted model and real bubblewrap runs: the model's patch counts only when
the tests pass and no deprecated use is left (a patch that passes but keeps ``distutils`` is sent
back); when the attempts run out its edits are undone, the rewriters' work is tested again and
written alone, and the report says ``partly_migrated`` with what is left.
"""

from __future__ import annotations

import shutil

import pytest

from applications.coding.companion import CodeSettings, run_migrate
from applications.coding.sandbox import SandboxLimits
from tests.applications.coding.code_harness import MODEL, live_gateway
from tests.model_layer.agents.scripted import text

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
VERSIONS = (
    "from datetime import datetime\nfrom distutils.version import LooseVersion\n\n\n"
    "def stamp():\n    return datetime.utcnow()\n\n\n"
    "def newer(a, b):\n    return LooseVersion(a) > LooseVersion(b)\n"
)
TESTS = (
    "from versions import newer, stamp\n\n\n"
    "def test_newer():\n    assert newer('1.10', '1.9') and not newer('1.2', '1.2')\n\n\n"
    "def test_stamp():\n    assert stamp().tzinfo is None\n"
)
OLD_NEWER = "def newer(a, b):\n    return LooseVersion(a) > LooseVersion(b)\n"
KEEPS_DISTUTILS = "NOTES.py\n<<<<<<< SEARCH\n=======\nDONE = True\n>>>>>>> REPLACE\n"  # passes, misses
GOOD = (
    "versions.py\n<<<<<<< SEARCH\nfrom distutils.version import LooseVersion\n=======\n>>>>>>> REPLACE\n"
    f"versions.py\n<<<<<<< SEARCH\n{OLD_NEWER}=======\n"
    "def newer(a, b):\n    return tuple(map(int, a.split('.'))) > tuple(map(int, b.split('.')))\n"
    ">>>>>>> REPLACE\n"
)
WRONG = (
    f"versions.py\n<<<<<<< SEARCH\n{OLD_NEWER}=======\ndef newer(a, b):\n    return a > b\n>>>>>>> REPLACE\n"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with live_gateway(tmp_path_factory.mktemp("gateway")) as gw:
        yield gw


def migrate_with(gateway, root, *answers, attempts=2):
    gateway.model.queue.clear()
    gateway.model.requests.clear()
    gateway.model.script(*[text(a) for a in answers])
    settings = CodeSettings(
        url=gateway.url, api_key=gateway.api_key, model_id=MODEL, attempts=attempts,
        limits=SandboxLimits(wall_s=60),
    )  # fmt: skip
    return run_migrate(settings, root, "to Python 3.12")


def project(tmp_path, **files):
    root = tmp_path / "project"
    root.mkdir(parents=True)
    for name, body in files.items():
        (root / name).write_text(body)
    return root


@needs_bwrap
def test_the_model_finishes_what_the_rewriters_left(gateway, tmp_path):
    root = project(tmp_path, **{"versions.py": VERSIONS, "test_versions.py": TESTS})
    report = migrate_with(gateway, root, KEEPS_DISTUTILS, GOOD)
    assert report.status == "migrated", report.message
    assert any("utcnow" in line for line in report.applied)  # the codemod did its part first
    # before, after the rewriters, after each patch: all real runs, all reported
    assert [r.outcome for r in report.runs] == ["passed", "passed", "passed", "passed"]
    assert [c.result for c in report.model_calls] == ["patch applied: NOTES.py", "patch applied: versions.py"]
    first_prompt = str(gateway.model.requests[0].messages)
    assert "versions.py: line 11: distutils.version.LooseVersion()" in first_prompt
    assert "still there" in str(gateway.model.requests[1].messages[-1])  # passing was not enough
    written = (root / "versions.py").read_text()
    assert "distutils" not in written and "datetime.now(UTC)" in written  # codemod, then ruff UP017
    assert report.written == ["NOTES.py", "versions.py"] and report.left == []  # attempts accumulate


@needs_bwrap
def test_a_model_that_fails_leaves_only_the_verified_rewrites(gateway, tmp_path):
    root = project(tmp_path, **{"versions.py": VERSIONS, "test_versions.py": TESTS})
    report = migrate_with(gateway, root, WRONG, "no patch here", attempts=2)
    assert report.status == "partly_migrated"
    outcomes = [r.outcome for r in report.runs]
    # before, after the rewriters, after the wrong patch, and the rewriters' state tested again
    assert outcomes == ["passed", "passed", "failed", "passed"]
    assert [c.result.split(":")[0] for c in report.model_calls] == ["patch applied", "invalid patch"]
    written = (root / "versions.py").read_text()
    assert "datetime.now(UTC)" in written and "LooseVersion(a) > LooseVersion(b)" in written
    assert any("LooseVersion" in line for line in report.left)
    assert "a > b" not in report.files_changed["versions.py"]
    assert any("edits were undone" in note for note in report.notes)


@needs_bwrap
def test_nothing_left_needs_no_model_and_no_tests_is_reported(gateway, tmp_path):
    clock = "from datetime import datetime\n\n\ndef stamp():\n    return datetime.utcnow()\n"
    test = "from clock import stamp\n\n\ndef test():\n    assert stamp().tzinfo is None\n"
    root = project(tmp_path, **{"clock.py": clock, "test_clock.py": test})
    report = migrate_with(gateway, root, GOOD)
    assert report.status == "migrated" and report.model_calls == []
    assert gateway.model.requests == []
    bare = project(tmp_path / "bare", **{"versions.py": VERSIONS})
    report = migrate_with(gateway, bare, GOOD)
    assert report.status == "no_tests" and report.model_calls == [] and report.written == []
    assert (bare / "versions.py").read_text() == VERSIONS
