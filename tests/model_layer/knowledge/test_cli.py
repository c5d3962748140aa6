"""``strata kb`` through the installed console script: create a KB on a folder, ingest with
progress, ask with citations, list, re-ingest incrementally, delete."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.model_layer.knowledge.docs import write_corpus
from tests.model_layer.knowledge.test_resume import CONFIG

STRATA = Path(sys.executable).with_name("strata")


def _kb(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(STRATA), "kb", *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.skipif(not STRATA.exists(), reason="the strata console script is not installed")
def test_kb_cli_end_to_end(tmp_path):
    home, docs = tmp_path / "home", tmp_path / "docs"
    home.mkdir()
    (home / "strata.toml").write_text(CONFIG)
    write_corpus(docs)
    env = {**os.environ, "STRATA_HOME": str(home), "COLUMNS": "200"}
    assert "Created knowledge base handbook" in _kb(
        env, "create", "handbook", "--folder", str(docs), "--tenant", "acme"
    )
    out = _kb(env, "ingest", "handbook", "--tenant", "acme")
    assert "COMPLETE — scanned 6, new 6, modified 0, deleted 0, failed 0" in out
    out = _kb(
        env,
        "query",
        "handbook",
        "Is a cracked laptop screen covered?",
        "--model",
        "fake.echo-v1:0",
        "--tenant",
        "acme",
    )
    lines = out.splitlines()
    assert lines[0].startswith("You said: Is a cracked laptop screen covered?[1]")
    assert lines[1].strip().startswith("[1] file://") and lines[1].endswith("warranty.docx")
    out = _kb(env, "query", "handbook", "penguin eggs", "--retrieve-only", "-k", "1", "--tenant", "acme")
    assert "penguins.html" in out and "male keeps the egg" in out
    assert "handbook" in _kb(env, "list", "--tenant", "acme")
    assert "handbook" not in _kb(env, "list", "--tenant", "globex")  # another tenant sees nothing
    (docs / "rates.csv").unlink()
    assert "new 0, modified 0, deleted 1" in _kb(env, "ingest", "handbook", "--tenant", "acme")
    assert "Deleted knowledge base handbook" in _kb(env, "delete", "handbook", "--tenant", "acme")
    failed = subprocess.run(
        [str(STRATA), "kb", "ingest", "handbook", "--tenant", "acme"], env=env, capture_output=True, text=True
    )
    assert failed.returncode != 0 and "no knowledge base named 'handbook'" in failed.stdout + failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr
