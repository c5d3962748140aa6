"""The installed ``strata`` console script: every usage error is one line, and --help reads cleanly.

Run as a subprocess, exactly as a user runs it (the script pip installed next to the venv's
python), because that is where the tracebacks showed: typer ≥ 0.2x raises its bundled click's
exceptions, which the root CLI did not catch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from strata.cli import build_app, click_exceptions, main

STRATA = str(Path(sys.executable).with_name("strata"))


def run_strata(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "STRATA_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([STRATA, *args], env=env, capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Non-zero exit, exactly one line on stderr starting with ``error:``, no traceback."""
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["keys", "create"], ["Missing option '--tenant'", "'strata keys create --help'"]),
        (["plan", "--bogus"], ["No such option: --bogus", "'strata plan --help'"]),
        (["plan", "--context", "abc"], ["'--context'", "'strata plan --help'"]),
        (["nosuchcmd"], ["No such command 'nosuchcmd'", "'strata --help'"]),
        (["runtime", "embed"], ["Missing argument", "'strata runtime embed --help'"]),
        (["provision", "--name", "x"], ["Missing option", "'strata provision --help'"]),
        (["keys"], ["Missing command", "'strata keys --help'"]),
    ],
)
def test_usage_errors_are_one_line_without_traceback(tmp_path, args, fragments):
    proc = run_strata(*args, home=tmp_path / "home")
    assert_one_line_error(proc, *fragments)
    assert proc.returncode == 2  # click's exit status for usage errors
    assert proc.stdout == ""


def test_user_errors_from_commands_stay_one_line(tmp_path):
    proc = run_strata("keys", "revoke", "AKIANOPE", home=tmp_path / "home")
    assert_one_line_error(proc, "no key 'AKIANOPE'")
    assert proc.returncode == 1


def test_no_arguments_prints_the_help(tmp_path):
    proc = run_strata(home=tmp_path / "home")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "Usage: strata [OPTIONS] COMMAND" in proc.stdout + proc.stderr


def test_the_click_typer_raises_from_is_the_one_caught():
    # The root cause of the tracebacks: with typer >= 0.2x, click.ClickException is not typer's.
    exceptions = click_exceptions()
    assert issubclass(typer.BadParameter, exceptions.ClickException)


def _command_paths(command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            paths += _command_paths(sub, (*prefix, name))
    return paths


def test_help_of_every_command_shows_plain_flags(capsys):
    root = typer.main.get_command(build_app())
    paths = _command_paths(root)
    assert ("runtime", "serve") in paths and ("keys", "create") in paths
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        out = capsys.readouterr().out
        assert "Usage: strata" in out, path
        assert "<bool>" not in out, (path, out)  # a flag takes no value
        assert "--no-no-" not in out, (path, out)
        assert "[[" not in out, (path, out)


def test_repeatable_options_show_what_to_type():
    """A repeatable option names its value (TYPE, KEY=VALUE), not a Python type like <list[str]>."""
    for args in (["plan", "--help"], ["provision", "--help"], ["tenants", "set", "--help"]):
        out = subprocess.run([STRATA, *args], capture_output=True, text=True, timeout=60).stdout
        assert "list[" not in out, args
