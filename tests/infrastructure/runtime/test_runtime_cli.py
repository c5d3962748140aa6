"""``strata runtime ...`` commands: real output, and one-line errors with exit code 1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from strata.cli import main

STRATA = Path(sys.executable).parent / "strata"


def run_cli(*args: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")} | (env or {})
    full_env["STRATA_HOME"] = os.environ["STRATA_HOME"]
    return subprocess.run([str(STRATA), *args], capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.mark.model
def test_chat_prints_an_answer(capsys):
    assert main(["runtime", "chat", "Say hi", "--max-tokens", "6"]) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.model
def test_chat_streams_and_honours_a_json_schema(capsys):
    schema = json.dumps(
        {
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"],
            "additionalProperties": False,
        }
    )
    assert (
        main(
            [
                "runtime",
                "chat",
                "Pick a number",
                "--stream",
                "--json-schema",
                schema,
                "--max-tokens",
                "60",
                "--temperature",
                "0",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert isinstance(json.loads(out)["n"], int)


def test_embed_prints_dimensions_and_tokens(capsys):
    assert main(["runtime", "embed", "hello world", "good morning"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("384-d [") and "4 tokens" in lines[0]


@pytest.mark.model
def test_count_tokens(capsys):
    assert main(["runtime", "count-tokens", "Hello world"]) == 0
    assert capsys.readouterr().out.strip() == "2"


@pytest.mark.parametrize(
    ("env", "args", "fragment"),
    [
        ({"STRATA_MODEL_PATH": "/no/such/model.gguf"}, ["chat", "hi"], "GGUF model file not found"),
        ({"STRATA_N_CTX": "lots"}, ["chat", "hi"], "invalid STRATA_N_CTX"),
        ({}, ["chat", "hi", "--json-schema", "{not json"], "--json-schema is not valid JSON"),
        (
            {"STRATA_OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
            ["chat", "hi"],
            "cannot reach the OpenAI-compatible",
        ),
        ({}, ["serve", "train"], "unexpected argument 'train'"),
        ({}, ["serve", "serve", "serve"], "unexpected argument 'serve'"),
    ],
)
def test_user_errors_are_one_line_without_traceback(env, args, fragment):
    result = run_cli("runtime", *args, env=env)
    assert result.returncode == 1
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_corrupt_gguf_is_one_line(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(256))
    result = run_cli("runtime", "chat", "hi", "--model", str(bad))
    assert result.returncode == 1 and "could not load" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_port_in_use_before_loading_models():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli("runtime", "serve", "--port", str(port), timeout=30)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


def test_serve_accepts_sagemakers_serve_argument_and_bind_port(tmp_path):
    # `docker run image serve` appends "serve"; SAGEMAKER_BIND_TO_PORT overrides --port. Prove
    # both by pointing the override at a busy port: the error names that port, not 8080.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli("runtime", "serve", "serve", env={"SAGEMAKER_BIND_TO_PORT": str(port)}, timeout=30)
    assert result.returncode == 1 and f":{port}" in result.stderr


def test_serve_help_shows_one_embeddings_flag_and_no_positional(capsys):
    assert main(["runtime", "serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: strata runtime serve [OPTIONS]\n" in out  # SageMaker's "serve" is accepted, not shown
    assert "--no-embeddings " in out and "--no-no-embeddings" not in out and "[serve]" not in out
