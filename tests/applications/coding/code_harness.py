"""A live gateway for the coding companion's tests: the production app on loopback, scripted model.

The chat model is the scripted test provider (each test says what the model answers), embeddings
are the real local MiniLM; the companion reaches them only through the SDK with an issued API key
— exactly as ``strata code`` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_layer.app import assemble, create_app
from model_layer.config import parse_config
from model_layer.providers.registry import ModelRouter
from model_layer.settings import GatewaySettings
from tests.model_layer.agents.scripted import ScriptedProvider
from tests.model_layer.live import serve_app

MODEL = "scripted.coder-v1:0"
EMBED = "amazon.minilm-l6-v2:0"  # the real local MiniLM: `ask` indexes docs with it


def code_models() -> dict[str, Any]:
    return {
        "providers": [{"name": "scripted", "type": "fake"}, {"name": "local", "type": "local"}],
        "models": [
            {"id": MODEL, "provider": "scripted", "provider_name": "Strata"},
            {
                "id": EMBED,
                "provider": "local",
                "upstream": "all-minilm-l6-v2",
                "kind": "embedding",
                "native_format": "titan-embed",
                "streaming": False,
                "context_window": 256,
            },
        ],
        "retry": {"max_attempts": 1},
    }


@dataclass
class LiveGateway:
    url: str
    model: ScriptedProvider
    api_key: str


@contextlib.contextmanager
def live_gateway(home: Path) -> Iterator[LiveGateway]:
    model = ScriptedProvider()
    router = ModelRouter(parse_config(code_models()), providers={"scripted": model})
    settings = GatewaySettings(home=home)
    parts = assemble(settings, router=router)
    app = create_app(settings, gateway=parts)
    keys = parts.keystore.create_keys("coder")
    with serve_app(app) as url:
        yield LiveGateway(url, model, keys.api_key)
