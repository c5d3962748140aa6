"""Fixtures for the runtime tests: one real engine per module group, and a live container."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infrastructure.runtime.container import create_app
from infrastructure.runtime.embeddings import EmbeddingEngine
from infrastructure.runtime.engine import ChatEngine, EngineConfig
from tests.infrastructure.runtime.tests_runtime_support import LiveServer


@pytest.fixture(scope="session")
def chat_engine() -> Iterator[ChatEngine]:
    # Loads in ~0.5 s; shared because each test only needs a slot, not a fresh model.
    engine = ChatEngine(EngineConfig(n_ctx=4096, n_parallel=2, n_threads=2))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def embedder() -> EmbeddingEngine:
    return EmbeddingEngine()


@pytest.fixture(scope="session")
def live_container(chat_engine, embedder) -> Iterator[LiveServer]:
    with LiveServer(create_app(chat_engine, embedder)) as server:
        yield server
