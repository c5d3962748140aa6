"""The state store on both backends: SQLite (a file) and a real PostgreSQL server."""

from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from model_layer.state import UNSET, ModelLimit, UsageRecord, open_database, sqlite_url
from model_layer.state.database import current_revision, head_revision
from model_layer.state.records import KeySetRecord, now_iso
from model_layer.state.schema import metadata
from model_layer.state.tenants import TenantStore
from model_layer.state.usage import UsageStore, periods


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "state.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def db(url):
    database = open_database(url)
    yield database
    database.dispose()


def _key(akid: str, tenant: str, sha: str) -> KeySetRecord:
    return KeySetRecord(akid, tenant, "sealed", sha, "sk-strata-…abcd", now_iso())


def _usage(tenant: str, at: float, cost: float, **over) -> UsageRecord:
    fields = {
        "at": at,
        "tenant_id": tenant,
        "key_id": "AKIA1",
        "model_id": "m",
        "operation": "Converse",
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "cost_usd": cost,
        "latency_ms": 12,
        "outcome": "complete",
    }
    fields.update(over)
    return UsageRecord(**fields)


# Subsystems declare their tables on the shared metadata in modules of their own: import them all.
SUBSYSTEM_SCHEMAS: list[str] = [
    "model_layer.agents.schema",
    "model_layer.guardrails.schema",
    "model_layer.knowledge.schema",
]


def test_migrations_build_exactly_the_declared_schema(db):
    for module in SUBSYSTEM_SCHEMAS:
        importlib.import_module(module)
    assert current_revision(db) == head_revision()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_reopening_is_a_no_op_and_keeps_data(url, db):
    TenantStore(db).put_tenant("acme")
    again = open_database(url)
    try:
        assert TenantStore(again).get_tenant("acme") is not None
    finally:
        again.dispose()


def test_concurrent_first_opens_migrate_once(url):
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            open_database(url).dispose()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []


def test_tenant_fields_update_only_what_is_given(db):
    store = TenantStore(db)
    store.put_tenant("acme", requests_per_minute=60, allowed_models=["b", "a", "a"])
    store.put_tenant("acme", tokens_per_minute=1000, requests_per_minute=UNSET)
    tenant = store.get_tenant("acme")
    assert (tenant.requests_per_minute, tenant.tokens_per_minute) == (60, 1000)
    assert tenant.allowed_models == ("a", "b")
    store.put_tenant("acme", allowed_models=None, daily_budget_usd=2.5)
    tenant = store.get_tenant("acme")
    assert tenant.allowed_models is None and tenant.daily_budget_usd == 2.5


def test_model_limits_are_set_and_removed(db):
    store = TenantStore(db)
    store.put_tenant("acme")
    store.set_model_limit("acme", ModelLimit("m1", requests_per_minute=5))
    store.set_model_limit("acme", ModelLimit("m2", tokens_per_minute=50))
    assert store.get_tenant("acme").model_limits == (ModelLimit("m1", 5, None), ModelLimit("m2", None, 50))
    store.set_model_limit("acme", ModelLimit("m1"))
    assert [m.model_id for m in store.get_tenant("acme").model_limits] == ["m2"]


def test_every_write_bumps_the_revision(db):
    store = TenantStore(db)
    r0 = store.revision()
    store.put_tenant("acme")
    store.add_key_set(_key("AKIA1", "acme", "h1"))
    store.revoke("AKIA1")
    assert store.revision() == r0 + 3


def test_key_sets_revoke_and_rotate(db):
    store = TenantStore(db)
    store.put_tenant("acme")
    store.add_key_set(_key("AKIA1", "acme", "h1"))
    assert store.by_api_key_hash("h1").access_key_id == "AKIA1"
    store.add_key_set(
        _key("AKIA2", "acme", "h2"), replaces="AKIA1", old_expires_at="2000-01-01T00:00:00+00:00"
    )
    old = store.by_access_key("AKIA1")
    assert old.replaced_by == "AKIA2" and old.status == "expired"
    assert store.revoke("AKIA2") and store.by_access_key("AKIA2").status == "revoked"
    assert store.revoke("AKIANOPE") is False
    assert [k.access_key_id for k in store.list_key_sets("acme")] == ["AKIA1", "AKIA2"]


def test_usage_adds_spend_per_day_and_month(db):
    usage = UsageStore(db)
    now = time.time()
    usage.add_many([_usage("acme", now, 0.25), _usage("acme", now, 0.5), _usage("other", now, 1.0)])
    usage.add(_usage("acme", now, 0.0, outcome="error", error_code="ModelErrorException"))
    spend = usage.spend("acme", now)
    assert spend.day_usd == pytest.approx(0.75) and spend.month_usd == pytest.approx(0.75)
    [summary] = usage.summarize(tenant_id="acme")
    assert (summary.requests, summary.errors, summary.input_tokens, summary.output_tokens) == (3, 1, 30, 15)
    assert summary.cost_usd == pytest.approx(0.75)


def test_spend_periods_are_utc_day_and_month():
    assert periods(0.0) == ("d:1970-01-01", "m:1970-01")


def test_a_read_only_database_file_is_opened_read_only(tmp_path: Path):
    import os

    path = tmp_path / "state.db"
    db = open_database(sqlite_url(path))
    TenantStore(db).put_tenant("acme")
    db.dispose()
    os.chmod(path, 0o400)
    if os.access(path, os.W_OK):
        pytest.skip("running as root: permission bits do not stop writes (see test_console_script)")
    ro = open_database(sqlite_url(path))
    assert ro.read_only and TenantStore(ro).get_tenant("acme") is not None
