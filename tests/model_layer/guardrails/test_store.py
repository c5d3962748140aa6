"""The guardrail store on both backends (a SQLite file and a real PostgreSQL server).

Tenant scoping, immutable versions with numbers never reused, idempotency tokens, text units,
and concurrent updates and versions from many threads losing nothing.
"""

from __future__ import annotations

import threading

import pytest

from model_layer.errors import ConflictException, ResourceNotFoundException
from model_layer.guardrails.store import GuardrailStore, UnitsRecord
from model_layer.state import open_database, sqlite_url
from tests.model_layer.state.pg_server import fresh_database, running_postgres


@pytest.fixture(scope="module")
def postgres_server():
    with running_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = (
        sqlite_url(tmp_path / "state.db")
        if request.param == "sqlite"
        else fresh_database(request.getfixturevalue("postgres_server"))
    )
    db = open_database(url)
    yield GuardrailStore(db)
    db.dispose()


def _definition(name: str, message: str = "no") -> dict:
    return {"name": name, "blockedInputMessaging": message, "blockedOutputsMessaging": "no"}


def test_tenant_scoping_and_versions(store):
    g = store.create("t1", _definition("a"), None)
    assert store.get("t1", g.guardrail_id).version == "DRAFT"
    with pytest.raises(ResourceNotFoundException):
        store.get("t2", g.guardrail_id)
    assert store.create_version("t1", g.guardrail_id, "first", None) == "1"
    store.update("t1", g.guardrail_id, _definition("a", "changed"))
    assert store.get("t1", g.guardrail_id, "1").definition["blockedInputMessaging"] == "no"
    assert store.get("t1", g.guardrail_id).definition["blockedInputMessaging"] == "changed"
    store.delete("t1", g.guardrail_id, "1")
    assert store.create_version("t1", g.guardrail_id, None, None) == "2"
    with pytest.raises(ConflictException):
        store.create("t1", _definition("a"), None)
    assert store.create("t2", _definition("a"), None).name == "a"  # names are per tenant


def test_idempotency_tokens(store):
    first = store.create("t1", _definition("tok"), "token-1")
    assert store.create("t1", _definition("tok"), "token-1").guardrail_id == first.guardrail_id
    v = store.create_version("t1", first.guardrail_id, None, "v-token")
    assert store.create_version("t1", first.guardrail_id, None, "v-token") == v
    assert store.create_version("t1", first.guardrail_id, None, "other") == str(int(v) + 1)


def test_units_are_summed_per_tenant(store):
    def record(tenant, words):
        return UnitsRecord(
            1.0, tenant, "k", "g", "DRAFT", "ApplyGuardrail", "INPUT", "NONE", 0, 0, words, 2, 0, 0, 3
        )

    store.add_units([record("t1", 1), record("t1", 4), record("t2", 9)])
    units = store.units("t1")
    assert units["evaluations"] == 2 and units["word_policy_units"] == 5
    assert units["sensitive_information_policy_units"] == 4


def test_concurrent_updates_and_versions_lose_nothing(store):
    g = store.create("t1", _definition("busy"), None)
    versions: list[str] = []
    errors: list[BaseException] = []

    def work(kind: int):
        try:
            for i in range(8):
                if kind == 0:
                    versions.append(store.create_version("t1", g.guardrail_id, None, None))
                else:
                    store.update("t1", g.guardrail_id, _definition("busy", f"{kind}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 0, 0, 1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert sorted(map(int, versions)) == list(range(1, 25))  # each number given once
    draft = store.get("t1", g.guardrail_id)
    assert draft.revision == 1 + 16  # every update counted
    records, _ = store.list_versions("t1", g.guardrail_id, 0, 100)
    assert len(records) == 25
