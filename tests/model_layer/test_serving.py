"""The separate metrics listener (``STRATA_METRICS_PORT``): Prometheus text and health, nothing else."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from model_layer.serving import metrics_listener
from strata.errors import ConfigurationError
from tests.model_layer.auth.g2_harness import CHAT_MODEL, build_gateway, user


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _requests_total(text: str, tenant: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "strata_model_requests_total" and sample.labels.get("tenant") == tenant:
                return sample.value
    return 0.0


def test_listener_serves_metrics_and_health_only(tmp_path, live_server):
    gateway = build_gateway(tmp_path / "gw", metrics_port=0)  # 0: any free port
    keys = gateway.issue("acme")
    with metrics_listener(gateway.app, gateway.settings) as metrics_url, live_server(gateway.app) as url:
        assert metrics_url.startswith("http://127.0.0.1:")
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            config=Config(retries={"total_max_attempts": 1}),
        )
        client.converse(modelId=CHAT_MODEL, messages=user("count me"))
        scraped = httpx.get(f"{metrics_url}/metrics")
        health = httpx.get(f"{metrics_url}/health")
        not_here = httpx.post(f"{metrics_url}/model/{CHAT_MODEL}/converse", json={})
        main_port = httpx.get(f"{url}/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain; version=")
    assert _requests_total(scraped.text, "acme") == 1
    assert health.json() == {"status": "ok", "version": gateway.app.version}
    assert not_here.status_code == 404
    assert not_here.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert main_port.status_code == 404  # no token configured: not on the public port
    gateway.keystore.close()


def test_listener_without_a_port_is_off(tmp_path):
    gateway = build_gateway(tmp_path / "gw")
    with metrics_listener(gateway.app, gateway.settings) as metrics_url:
        assert metrics_url is None
    gateway.keystore.close()


def test_listener_on_a_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        gateway = build_gateway(tmp_path / "gw", metrics_port=taken)
        with pytest.raises(ConfigurationError) as info, metrics_listener(gateway.app, gateway.settings):
            pass
    assert info.value.message == f"the metrics listener could not listen on 127.0.0.1:{taken}"
    gateway.keystore.close()


FAKE_TOML = (
    '[[providers]]\nname = "fake"\ntype = "fake"\n\n[[models]]\nid = "fake.echo-v1:0"\nprovider = "fake"\n'
)


def test_strata_serve_opens_the_metrics_listener(tmp_path):
    """``strata serve`` end to end: the listener answers while the gateway runs, and stops with it."""
    config = tmp_path / "strata.toml"
    config.write_text(FAKE_TOML)
    port, metrics_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "STRATA_HOME": str(tmp_path / "home"),
        "STRATA_METRICS_PORT": str(metrics_port),
        "PYTHONUNBUFFERED": "1",
    }
    strata = str(Path(sys.executable).parent / "strata")
    proc = subprocess.Popen(
        [strata, "serve", "--port", str(port), "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        scraped = _get_when_up(f"http://127.0.0.1:{metrics_port}/metrics", proc)
        main_port = _get_when_up(f"http://127.0.0.1:{port}/metrics", proc)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert scraped.status_code == 200, output
    assert "# TYPE strata_model_requests_total counter" in scraped.text
    assert main_port.status_code == 404
    assert proc.returncode is not None


def _get_when_up(url: str, proc: subprocess.Popen) -> httpx.Response:
    # Poll with a deadline: the server prints its banner before the socket listens.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.05)  # poll interval, bounded by the deadline
    pytest.fail(f"{url} did not answer (exit code {proc.poll()})")
