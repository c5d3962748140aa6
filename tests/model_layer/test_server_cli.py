"""``strata serve`` / ``strata up``: clear one-line errors, and a real server in a subprocess."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
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


class Server:
    """A ``strata serve``/``up`` subprocess whose output (stdout + stderr) a thread collects by line."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)  # end of output: the process exited

    def read_until(self, predicate: Callable[[str], bool], timeout: float = 60) -> list[str]:
        """The lines up to and including the first one ``predicate`` accepts (bounded wait)."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("no such line within the deadline:\n" + "\n".join(seen))
            if line is None:
                pytest.fail("server exited:\n" + "\n".join(seen))
            seen.append(line)
            if predicate(line):
                return seen


@contextmanager
def _server(args: list[str], home: Path, **env: str) -> Iterator[tuple[str, Server]]:
    env = {**os.environ, "STRATA_HOME": str(home), "PYTHONUNBUFFERED": "1", **env}
    proc = subprocess.Popen(
        [STRATA, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    server = Server(proc)
    try:
        # The banner is printed once the app is built, before serving.
        line = server.read_until(lambda text: text.startswith("strata gateway on "))[-1]
        yield line.split()[3], server
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


def _until_stop_hint(server: Server) -> list[str]:
    return server.read_until(lambda line: line.startswith("Ctrl-C to stop"))


def test_serve_runs_the_configured_models(tmp_path):
    config = tmp_path / "strata.toml"
    config.write_text(FAKE_TOML)
    port = _free_port()
    with _server(["serve", "--port", str(port), "--config", str(config)], tmp_path / "home") as (url, server):
        assert url == f"http://127.0.0.1:{port}"
        assert _wait_healthy(url)["status"] == "ok"  # /health names no models (issue 7 §4)
        rest = _until_stop_hint(server)
    assert "fake.echo-v1:0" in rest[0]
    assert any(line.startswith("Next: strata keys create --tenant") for line in rest)
    assert rest[-1] == "Ctrl-C to stop (requests are not logged)."  # serve: off unless asked


def test_serve_access_log_flag_logs_each_request(tmp_path):
    config = tmp_path / "strata.toml"
    config.write_text(FAKE_TOML)
    args = ["serve", "--port", str(_free_port()), "--config", str(config), "--access-log"]
    with _server(args, tmp_path / "home") as (url, server):
        assert _until_stop_hint(server)[-1] == "Ctrl-C to stop (one line per request below)."
        _wait_healthy(url)
        line = server.read_until(lambda text: " op=Health " in text)[-1]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d tenant=- op=Health model=- status=200 in=0 out=0 ", line)


def _demo_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "strata.toml").write_text(FAKE_TOML)  # `up` reads $STRATA_HOME/strata.toml when present
    return home


def test_up_issues_demo_keys_once(tmp_path):
    home = _demo_home(tmp_path)
    outputs = []
    for _ in range(2):
        with _server(["up", "--port", str(_free_port())], home) as (url, server):
            outputs.append("\n".join(_until_stop_hint(server)))
            health = _wait_healthy(url)
    assert health["status"] == "ok"
    assert "OPENAI_API_KEY=sk-strata-" in outputs[0] and "AWS_SECRET_ACCESS_KEY=" in outputs[0]
    assert "OPENAI_API_KEY=" not in outputs[1] and "strata keys create --tenant demo" in outputs[1]
    assert "$OPENAI_API_KEY" in outputs[1]  # the next step then uses the key saved from the first run


@pytest.mark.skipif(shutil.which("curl") is None, reason="the printed next step is a curl command")
def test_up_prints_a_next_step_that_works_and_logs_it_without_prompt_text(tmp_path):
    with _server(["up", "--port", str(_free_port())], _demo_home(tmp_path)) as (url, server):
        banner = _until_stop_hint(server)
        assert banner[-1] == "Ctrl-C to stop (one line per request below)."  # up: on by default
        command = banner[banner.index("Try it:") + 1].strip()
        assert command.startswith(f'curl -s {url}/v1/chat/completions -H "Authorization: Bearer sk-strata-')
        _wait_healthy(url)
        answer = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60, check=True)
        assert json.loads(answer.stdout)["choices"][0]["message"]["content"] == "You said: Name a planet."
        line = server.read_until(lambda text: " op=ChatCompletions " in text)[-1]
    assert " tenant=demo op=ChatCompletions model=fake.echo-v1:0 status=200 " in line
    assert "planet" not in line


def test_access_log_setting_overrides_the_commands_default(monkeypatch):
    from model_layer.server_cli import _settings

    monkeypatch.setenv("STRATA_ACCESS_LOG", "false")
    assert _settings("127.0.0.1", 8000, None, None, access_log_default=True).access_log is False
    assert _settings("127.0.0.1", 8000, None, True, access_log_default=True).access_log is True
    monkeypatch.delenv("STRATA_ACCESS_LOG")
    assert _settings("127.0.0.1", 8000, None, None, access_log_default=False).access_log is False
