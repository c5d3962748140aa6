"""State fixtures: a real PostgreSQL server for the session, a fresh database per test, and a
usage store on a fresh SQLite file (``store``; a test module may define its own)."""

from __future__ import annotations

import pytest

from model_layer.state import open_database, sqlite_url
from model_layer.state.usage import UsageStore
from tests.model_layer.state.pg_server import fresh_database, running_postgres


@pytest.fixture(scope="session")
def postgres_server():
    with running_postgres() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server):
    return fresh_database(postgres_server)


@pytest.fixture
def store(tmp_path):
    db = open_database(sqlite_url(tmp_path / "state.db"))
    yield UsageStore(db)
    db.dispose()
