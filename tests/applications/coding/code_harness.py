"""A live gateway for the coding companion's tests: the production app on loopback, scripted model.

The chat model is the scripted test provider (each test says what the model answers), embeddings
are the real local MiniLM; the companion reaches them only through the SDK with an issued API key
— exactly as ``strata code`` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.applications.scripted_gateway import EMBED, ScriptedGateway, scripted_gateway

MODEL = "scripted.coder-v1:0"
LiveGateway = ScriptedGateway
__all__ = ["EMBED", "MODEL", "LiveGateway", "live_gateway"]


@contextlib.contextmanager
def live_gateway(home: Path) -> Iterator[LiveGateway]:
    with scripted_gateway(home, MODEL, "coder") as gateway:
        yield gateway
