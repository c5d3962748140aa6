"""examples/gateway_clients.py: boto3, openai, langchain-aws and the SDK against a gateway it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "gateway_clients.py"
FAKE_TOML = """
[[providers]]
name = "fake"
type = "fake"
embedding_dimensions = 8

[[models]]
id = "fake.echo-v1:0"
provider = "fake"

[[models]]
id = "amazon.fake-embed-v1:0"
provider = "fake"
kind = "embedding"
native_format = "titan-embed"
streaming = false
"""


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_every_client_talks_to_the_gateway(tmp_path):
    config = tmp_path / "strata.toml"
    config.write_text(FAKE_TOML)
    proc = _run(
        "--config",
        str(config),
        "--chat-model",
        "fake.echo-v1:0",
        "--embedding-model",
        "amazon.fake-embed-v1:0",
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    echo = "'You said: Name one planet in the solar system.'"
    for prefix in ("boto3 converse:", "openai chat:", "langchain invoke:", "sdk converse:"):
        assert f"{prefix} {echo}" in out
    assert "boto3 converse_stream: 9 deltas" in out and "sdk converse_stream: 9 deltas" in out
    assert "openai embeddings: 2 x 8" in out and "langchain embeddings: 8 dimensions" in out
    assert "boto3 list_foundation_models: ['amazon.fake-embed-v1:0', 'fake.echo-v1:0']" in out


def test_running_gateway_needs_keys_in_the_environment():
    env = {"STRATA_API_KEY": ""}
    proc = _run("--base-url", "http://127.0.0.1:9", env=env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: --base-url needs STRATA_API_KEY") and "Traceback" not in proc.stderr


def test_unreachable_gateway_is_one_line_error():
    env = {"STRATA_API_KEY": "sk-x", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}
    proc = _run("--base-url", "http://127.0.0.1:9", env=env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.model
def test_example_with_the_embedded_local_models():
    proc = _run()
    assert proc.returncode == 0, proc.stderr
    assert "boto3 invoke_model (embedding): 384 dimensions" in proc.stdout
    assert "local.smollm2-135m-instruct-v1:0" in proc.stdout
    assert proc.stdout.count("sdk ") == 4
