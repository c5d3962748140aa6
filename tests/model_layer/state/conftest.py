"""State fixtures: a real PostgreSQL server for the session, a fresh database per test."""

from __future__ import annotations

import pytest

from tests.model_layer.state.pg_server import fresh_database, running_postgres


@pytest.fixture(scope="session")
def postgres_server():
    with running_postgres() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server):
    return fresh_database(postgres_server)
