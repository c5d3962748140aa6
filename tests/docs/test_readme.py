"""The README's snippets do what it says, and print what it shows, against a real gateway.

Every ```python block of README.md is executed in order in one namespace (later blocks reuse
``rt`` from earlier ones), with the placeholder credentials and base URL replaced by a freshly
issued key set and a live loopback gateway on the embedded models; what each block prints is
checked (text where the README prints text, not message objects or content-block lists). The
``keys create --json`` example is compared with what the installed console script prints.
Docs that drift from behaviour fail here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from model_layer.app import create_app
from model_layer.auth.keystore import KeyStore
from model_layer.settings import GatewaySettings
from tests.model_layer.live import serve_app

README = Path(__file__).resolve().parents[2] / "README.md"
STRATA = str(Path(sys.executable).with_name("strata"))
# What printing an object instead of its text looks like: event dicts, content-block lists, reprs.
NOT_TEXT = ("{'messageStart'", "{'contentBlockDelta'", "[{'type'", "'text':", "ChatCompletion", "Response(")


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_client_snippets():
    blocks = "\n".join(_python_blocks())
    for client in ("boto3", "langchain_aws", "openai", "model_layer.sdk"):
        assert client in blocks


def test_keys_create_json_prints_the_fields_the_readme_shows(tmp_path):
    text = README.read_text()
    shown = re.search(r"strata keys create --tenant acme --json\n# (\{.*\})\n", text)
    assert shown, "the README shows what keys create --json prints"
    fields = re.findall(r'"(\w+)":', shown.group(1))
    env = {**os.environ, "STRATA_HOME": str(tmp_path / "home")}
    proc = subprocess.run([STRATA, "keys", "create", "--tenant", "acme", "--json"], env=env,
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    printed = json.loads(proc.stdout)
    assert fields and set(fields) <= set(printed), (fields, sorted(printed))
    assert printed["tenantId"] == "acme"
    assert printed["accessKeyId"].startswith("AKIA") and printed["apiKey"].startswith("sk-strata-")


def _check_output(block: str, out: str) -> None:
    """What a block printed is what the README says it prints."""
    assert out.strip(), f"the snippet printed nothing:\n{block}"
    assert not any(marker in out for marker in NOT_TEXT), out
    if "converse_stream" in block:  # boto3: the answer and usage, then the streamed text
        answer, usage, streamed = re.fullmatch(
            r"(.*?) (\{'inputTokens': \d+.*?\})\n(.*)\n", out, re.S
        ).groups()
        assert answer.strip() and streamed.strip() and "outputTokens" in usage
    if "chat.completions" in block:  # openai: the streamed text, then "2 384"
        streamed, _, sizes = out.rstrip("\n").rpartition("\n")
        assert streamed.strip() and sizes == "2 384", out


@pytest.mark.model
def test_readme_snippets_run_against_a_live_gateway(tmp_path, capsys):
    settings = GatewaySettings(home=tmp_path / "home")
    store = KeyStore.open(settings)
    try:
        keys = store.create_keys("readme")
    finally:
        store.close()
    app = create_app(settings)
    with serve_app(app) as base_url:
        namespace: dict = {}
        for block in _python_blocks():
            code = (
                block.replace('"AKIA…"', repr(keys.access_key_id))
                .replace('aws_secret_access_key="…"', f"aws_secret_access_key={keys.secret_access_key!r}")
                .replace('"sk-strata-…"', repr(keys.api_key))
                .replace("http://127.0.0.1:8000", base_url)
            )
            capsys.readouterr()
            exec(compile(code, "README.md", "exec"), namespace)
            _check_output(block, capsys.readouterr().out)
