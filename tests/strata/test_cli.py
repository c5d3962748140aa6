"""The root CLI: layers register their commands; user errors are one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

from strata.cli import build_app, main
from strata.errors import StrataError


def test_help_lists_every_layer_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("plan", "provision", "deprovision", "runtime"):
        assert command in out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert "strata 0.1.0" in capsys.readouterr().out


def test_user_error_is_one_line_and_exit_1(capsys):
    app = build_app()

    @app.command("explode")
    def _explode() -> None:
        raise StrataError("no such thing", hint="try another")

    import strata.cli as cli

    original = cli.build_app
    cli.build_app = lambda: app
    try:
        assert main(["explode"]) == 1
    finally:
        cli.build_app = original
    err = capsys.readouterr().err
    assert "error: no such thing (try another)" in err
    assert "Traceback" not in err


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "strata.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "runtime" in proc.stdout
