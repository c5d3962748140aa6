"""The README's client snippets run as written against a real gateway on the embedded models.

Every ```python block of README.md is executed in order in one namespace (later blocks reuse
``rt`` from earlier ones), with the placeholder credentials and base URL replaced by a freshly
issued key set and a live loopback gateway. Docs that drift from behaviour fail here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from model_layer.app import create_app
from model_layer.auth.keystore import KeyStore
from model_layer.settings import GatewaySettings
from tests.model_layer.live import serve_app

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_client_snippets():
    blocks = "\n".join(_python_blocks())
    for client in ("boto3", "langchain_aws", "openai", "model_layer.sdk"):
        assert client in blocks


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
            exec(compile(code, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert out.strip(), "the snippets print their answers"
    assert "inputTokens" in out  # boto3 usage printed
