"""A live gateway for the shopping assistant's tests, and the demo store loaded into it via the SDK.

The gateway is the production app on loopback: the chat model is the scripted test provider (each
test says what the model answers: text or tool calls), embeddings are the real local MiniLM, and
the guardrail is the real one ``strata shop load`` creates. The app talks to it only through the
SDK with an issued API key, exactly as ``strata shop`` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from applications.shopping.shop import Shop, ShopSettings, open_shop
from tests.applications.scripted_gateway import EMBED, ScriptedGateway, scripted_gateway

MODEL = "scripted.shopper-v1:0"
__all__ = ["EMBED", "MODEL", "LiveGateway", "live_gateway"]


@dataclass
class LiveGateway(ScriptedGateway):
    def settings(self, home: Path, **overrides: Any) -> ShopSettings:
        values = {"url": self.url, "api_key": self.api_key, "home": home, "model_id": MODEL, "retries": 0}
        return ShopSettings(**{**values, **overrides})

    def shop(self, home: Path) -> Shop:
        return open_shop(self.settings(home))


@contextlib.contextmanager
def live_gateway(home: Path) -> Iterator[LiveGateway]:
    with scripted_gateway(home, MODEL, "shopper") as gateway:
        yield LiveGateway(gateway.url, gateway.model, gateway.api_key, gateway.parts)
