"""``strata serve`` / ``strata up``: clear one-line errors, and a real server in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from strata.cli import main

STRATA = str(Path(sys.executable).parent / "strata")
FAKE_TOML = """
[[providers]]
name = "fake"
type = "fake"

[[models]]
id = "fake.echo-v1:0"
provider = "fake"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_port_in_use_is_one_line_error(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--config", "/no/such/strata.toml"], "config file not found"),
        (["serve", "--port", "0"], "invalid port 0"),
        (["up", "--port", "70000"], "invalid port 70000"),
    ],
)
def test_bad_arguments_are_one_line_errors(capsys, args, message):
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_config_file_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "strata.toml"
    bad.write_text('[[models]]\nid = "x.y"\nprovider = "ghost"\n')
    assert main(["serve", "--config", str(bad), "--port", str(_free_port())]) == 1
    err = capsys.readouterr().err
    assert "unknown provider 'ghost'" in err and "Traceback" not in err


@contextmanager
def _server(args: list[str], home: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    env = {**os.environ, "STRATA_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [STRATA, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines: list[str] = []
        for line in proc.stdout:  # the banner is printed once the app is built, before serving
            lines.append(line)
            if line.startswith("strata gateway on "):
                break
        else:
            pytest.fail("server exited:\n" + "".join(lines))
        yield line.split()[3], proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_healthy(base_url: str) -> dict:
    # Poll the socket uvicorn opens right after the banner, with a deadline (no fixed sleeps).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            return httpx.get(base_url + "/health", timeout=1).json()
        except httpx.TransportError:
            time.sleep(0.02)  # poll interval, bounded by the deadline
    pytest.fail("gateway did not answer /health")


def test_serve_runs_the_configured_models(tmp_path):
    config = tmp_path / "strata.toml"
    config.write_text(FAKE_TOML)
    port = _free_port()
    with _server(["serve", "--port", str(port), "--config", str(config)], tmp_path / "home") as (url, proc):
        assert url == f"http://127.0.0.1:{port}"
        assert _wait_healthy(url)["status"] == "ok"  # /health names no models (issue 7 §4)
        rest = proc.stdout.readline()
    assert "fake.echo-v1:0" in rest


def test_up_issues_demo_keys_once(tmp_path):
    home = tmp_path / "home"
    (home).mkdir()
    (home / "strata.toml").write_text(FAKE_TOML)  # `up` reads $STRATA_HOME/strata.toml when present
    outputs = []
    for _ in range(2):
        with _server(["up", "--port", str(_free_port())], home) as (url, proc):
            health = _wait_healthy(url)
            proc.terminate()
            outputs.append(proc.communicate(timeout=30)[0])
    assert health["status"] == "ok"
    assert "OPENAI_API_KEY=sk-strata-" in outputs[0] and "AWS_SECRET_ACCESS_KEY=" in outputs[0]
    assert "OPENAI_API_KEY" not in outputs[1] and "strata keys create --tenant demo" in outputs[1]
