"""Every ``strata code`` command on the embedded model, as a fresh clone serves it.

The gateway runs the default configuration (SmolLM2-135M through llama.cpp, 2,048 tokens a
request, and MiniLM embeddings: what ``strata up`` serves with no strata.toml), and each command
runs through the root CLI with ``--json``. A 135M model rarely fixes anything; what is checked is
that every command finishes with a valid report whose stated outcome is the measured one: a
success only when the final sandboxed run passed (and an independent re-run of the written
workspace agrees), the user's files untouched otherwise, citations only to files that exist.
Replies are capped at 64 tokens and one attempt, so the test stays within a few minutes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer

from applications.coding.cli import SUCCESS, register
from applications.coding.companion import DEFAULT_MODEL
from applications.coding.sandbox import Sandbox, SandboxLimits
from model_layer.app import assemble, create_app
from model_layer.settings import GatewaySettings
from strata import cli as strata_cli
from tests.model_layer.live import serve_app

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
CALC = {
    "calc.py": "def add(a, b):\n    return a - b\n",
    "test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
}
STUB = {
    "slug.py": 'def slug(s):\n    """Lower-case words of s, dashed."""\n    raise NotImplementedError\n',
    "test_slug.py": "from slug import slug\n\n\ndef test_slug():\n    assert slug('A b') == 'a-b'\n",
}
OLD = {
    "old.py": (
        "from datetime import datetime\nfrom distutils.version import LooseVersion\n\n\n"
        "def stamp():\n    return datetime.utcnow()\n\n\n"
        "def newer(a, b):\n    return LooseVersion(a) > LooseVersion(b)\n"
    ),
    "test_old.py": (
        "from old import newer, stamp\n\n\n"
        "def test():\n    assert stamp().tzinfo is None and newer('1.10', '1.9')\n"
    ),
}
DOCS = {
    "README.md": "# Widget\n\nWidget renders charts. Start it with `widget serve --port 8080`.\n",
    "docs/deploy.md": "# Deploying\n\nDeploy with `widget deploy --region eu-west-1` (needs Docker).\n",
    "widget.py": "X = 1\n",
}
FIXED_CALC = {**CALC, "calc.py": "def add(a, b):\n    return a + b\n"}
CASES = [
    ("fix", "add() returns the wrong sum", CALC, ("fixed", "not_fixed")),
    ("generate", "implement slug()", STUB, ("generated", "not_generated")),
    ("test", "calc.py", FIXED_CALC, ("tests_added", "tests_not_added")),
    ("explain", "calc.py:add", CALC, ("answered",)),
    ("migrate", "to Python 3.12", OLD, ("migrated", "partly_migrated")),
    ("ask", "How do I deploy the widget?", DOCS, ("answered", "not_in_docs", "uncited")),
]  # fmt: skip


def write(root: Path, files: dict[str, str]) -> Path:
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body)
    return root


@pytest.fixture
def code(monkeypatch, capsys, tmp_path):
    """``strata code …`` through the root CLI's main, against the default gateway on loopback."""

    def build_app() -> typer.Typer:
        app = typer.Typer(rich_markup_mode=None)

        @app.callback()
        def _root() -> None:
            """strata"""

        register(app)
        return app

    settings = GatewaySettings(home=tmp_path / "gateway")
    parts = assemble(settings)  # no router given: the default configuration
    with serve_app(create_app(settings, gateway=parts)) as url:
        monkeypatch.setattr(strata_cli, "build_app", build_app)
        monkeypatch.setenv("STRATA_CODE_URL", url)
        monkeypatch.setenv("STRATA_CODE_API_KEY", parts.keystore.create_keys("coder").api_key)
        monkeypatch.delenv("STRATA_CODE_MODEL", raising=False)

        def run(*argv: str) -> tuple[int, dict]:
            capsys.readouterr()
            status = strata_cli.main(["code", *argv, "--json", "--attempts", "1", "--max-tokens", "64"])
            return status, json.loads(capsys.readouterr().out)

        yield run


def check_verified(report: dict, root: Path, files: dict[str, str], success: str) -> None:
    final = report["runs"][-1]
    assert (report["status"] == success) == (final["outcome"] == "passed" and len(report["runs"]) > 1)
    if report["status"] == success:  # an independent re-run of what was written agrees
        assert Sandbox(SandboxLimits(wall_s=60)).run_tests(root).passed
    else:
        assert {n: (root / n).read_text() for n in files} == files and report["written"] == []


@pytest.mark.model
@needs_bwrap
def test_every_command_finishes_honestly_on_the_embedded_model(code, tmp_path):
    for command, argument, files, statuses in CASES:
        root = write(tmp_path / command, files)
        status, report = code(command, argument, "-w", str(root))
        print(
            command, report["status"], [(c["output_tokens"], c["latency_ms"]) for c in report["model_calls"]]
        )
        assert report["status"] in statuses, (command, report["status"], report["message"])
        assert status == (0 if report["status"] in SUCCESS else 1)
        assert all(call["model_id"] == DEFAULT_MODEL for call in report["model_calls"])
        assert len([c for c in report["model_calls"] if c["attempt"] == 1]) <= 1  # the bound held
        if command in ("fix", "generate", "test"):
            check_verified(report, root, files, statuses[0])
            assert report["model_calls"], command  # the model was asked and answered
        elif command == "migrate":
            assert [r["outcome"] for r in report["runs"]][:2] == ["passed", "passed"]  # before, after
            assert (
                report["runs"][-1]["outcome"] == "passed"
                and "datetime.now(UTC)" in (root / "old.py").read_text()
            )
            assert (report["status"] == "migrated") == ("distutils" not in (root / "old.py").read_text())
        elif command == "explain":
            assert report["answer"] and report["citations"] == [{"path": "calc.py", "lines": [1, 2]}]
        else:
            assert all((root / c["path"]).is_file() for c in report["citations"])
            assert (report["status"] == "answered") == bool(report["citations"])
