"""Processes the gateway benches start: a free loopback port, a server started and awaited
until it answers, a strata home with an API key issued through the installed CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def process(cmd: list[str], ready_url: str, *, env: dict[str, str] | None = None, timeout_s: float = 120):
    """Start ``cmd``, wait until ``ready_url`` answers, stop it (and wait) on exit."""
    log = tempfile.TemporaryFile()  # noqa: SIM115  # closed in the finally below, after the process
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{cmd[0]} exited:\n{log.read().decode()[-3000:]}")
            try:
                httpx.get(ready_url, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[0]} did not start in {timeout_s:.0f}s") from None
                time.sleep(0.1)  # poll interval while a server starts
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def strata_env(home: Path) -> dict[str, str]:
    return {"STRATA_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def issue_key(home: Path) -> str:
    out = subprocess.run(
        [str(BIN / "strata"), "keys", "create", "--tenant", "bench",
         "--rpm", "100000000", "--tpm", "1000000000", "--json"],
        env={**os.environ, **strata_env(home)},
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    return json.loads(out.stdout)["apiKey"]
