"""``strata shop demo`` (``make run``): a real ``strata up`` gateway as a child process, the demo
store loaded through the SDK, the page served; stopped with Ctrl-C (SIGINT) and the gateway with it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest

pytestmark = [
    pytest.mark.model,  # starts the embedded models (SmolLM2 + MiniLM) in the child gateway
    pytest.mark.skipif(
        "shopping" not in {ep.name for ep in entry_points(group="strata.commands")},
        reason="strata shop is not registered in this install (run make setup)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_starts_the_gateway_loads_the_store_and_prints_the_page_url(tmp_path):
    strata = str(Path(sys.executable).with_name("strata"))
    page, gateway = free_port(), free_port()
    env = {**os.environ, "STRATA_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [strata, "shop", "demo", "--port", str(page), "--gateway-port", str(gateway)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Shopping assistant on" in line:
                break
        url = re.search(r"Shopping assistant on (\S+)", "".join(lines))
        assert url, "".join(lines)
        assert url.group(1) == f"http://127.0.0.1:{page}/"
        assert httpx.get(f"{url.group(1)}api/health", timeout=10).json() == {"status": "ok", "products": 60}
        assert "Strata Outfitters" in httpx.get(url.group(1), timeout=10).text
        keys = json.loads((tmp_path / "home" / "shopping" / "demo-keys.json").read_text())
        assert keys["tenantId"] == "shop-demo"
        assert oct((tmp_path / "home" / "shopping" / "demo-keys.json").stat().st_mode & 0o777) == "0o600"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    with pytest.raises(httpx.TransportError):  # the gateway went with it
        httpx.get(f"http://127.0.0.1:{gateway}/health", timeout=2)
