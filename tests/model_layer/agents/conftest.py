"""Agent test fixtures: a live gateway with a scripted model (SQLite state), and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.model_layer.agents import functions
from tests.model_layer.agents.harness import running_gateway
from tests.model_layer.state.pg_server import fresh_database, running_postgres


@pytest.fixture
def gw(tmp_path):
    functions.CALLS.clear()
    functions.RELEASE.clear()
    with running_gateway(tmp_path / "home") as gateway:
        yield gateway
    functions.RELEASE.set()  # let a handler a test left blocked finish


@pytest.fixture(scope="session")
def postgres_server():
    with running_postgres() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server):
    return fresh_database(postgres_server)
