"""The live gateway both apps' tests run against: the production app on loopback, a scripted model.

The chat model is the scripted test provider (each test says what the model answers: text or tool
calls); embeddings are the real local MiniLM. An app reaches it only through the SDK with an API
key issued to its own tenant, exactly as the shipped CLIs do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.model_layer.agents.scripted import ScriptedProvider
from tests.model_layer.gateway_harness import build_gateway, local_minilm
from tests.model_layer.live import serve_app

EMBED = "amazon.minilm-l6-v2:0"  # the real local MiniLM


def scripted_models(model_id: str) -> dict[str, Any]:
    """A gateway config: ``model_id`` served by the scripted provider, plus the local MiniLM."""
    return {
        "providers": [{"name": "scripted", "type": "fake"}, {"name": "local", "type": "local"}],
        "models": [
            {"id": model_id, "provider": "scripted", "provider_name": "Strata"},
            local_minilm(EMBED),
        ],
        "retry": {"max_attempts": 1},
    }


@dataclass
class ScriptedGateway:
    url: str
    model: ScriptedProvider
    api_key: str
    parts: Any


@contextlib.contextmanager
def scripted_gateway(home: Path, model_id: str, tenant: str) -> Iterator[ScriptedGateway]:
    model = ScriptedProvider()
    gw = build_gateway(home, scripted_models(model_id), providers={"scripted": model}, tenant=tenant)
    with serve_app(gw.app) as url:
        yield ScriptedGateway(url, model, gw.keys.api_key, gw.parts)
