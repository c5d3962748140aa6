"""STRATA_HOME: private modes (SQLite's -wal/-shm included), tightening on write, never on read."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from model_layer.auth.keystore import KeyStore
from model_layer.settings import GatewaySettings
from model_layer.tenancy.metering import UsageStore
from model_layer.types import Tenant, Usage
from strata.home import HomeError, connect_state_db, ensure_dir, strata_home, writable_home


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def add_usage(store: UsageStore) -> None:
    store.add(at=1.0e9, tenant=Tenant("acme", "AKIAX"), model_id="m", operation="Converse",
              usage=Usage(3, 4), cost=0.0, latency_ms=5, error_code=None, request_id="r")  # fmt: skip


def test_a_new_home_is_0700(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATA_HOME", str(tmp_path / "a" / "home"))
    home = strata_home()
    assert home == tmp_path / "a" / "home" and mode(home) == 0o700


def test_usage_db_and_its_wal_and_shm_are_0600(tmp_path):
    previous = os.umask(0o022)  # the usual umask, under which SQLite alone creates 0644 files
    store = UsageStore(tmp_path / "usage.db")
    try:
        add_usage(store)
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["usage.db", "usage.db-shm", "usage.db-wal"]  # WAL open: all three exist
        assert {name: mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
    finally:
        store.close()
        os.umask(previous)


def test_keys_db_and_its_wal_and_shm_are_0600(tmp_path):
    store = KeyStore.open(GatewaySettings(home=tmp_path))
    try:
        store.create_keys("acme")
        dbs = [p for p in tmp_path.iterdir() if p.name.startswith("keys.db")]
        assert len(dbs) == 3
        assert {p.name: mode(p) for p in dbs} == {p.name: 0o600 for p in dbs}
    finally:
        store.close()


def _loose_home(tmp_path: Path) -> Path:
    """A home as an older version left it: 0755, state files 0644, plus files that are not state."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    for name in ("keys.db", "usage.db", "usage.db-wal", "keystore.key", "strata.toml"):
        (home / name).write_text("")
        (home / name).chmod(0o644)
    (home / "link.db").symlink_to(tmp_path / "elsewhere.db")
    (tmp_path / "elsewhere.db").write_text("")
    (tmp_path / "elsewhere.db").chmod(0o644)
    return home


def test_writing_tightens_an_old_home_and_its_state_files(tmp_path):
    home = _loose_home(tmp_path)
    assert writable_home(home) == home
    assert mode(home) == 0o700
    for name in ("keys.db", "usage.db", "usage.db-wal", "keystore.key"):
        assert mode(home / name) == 0o600, name
    assert mode(home / "strata.toml") == 0o644  # the user's config is not ours to change
    assert mode(tmp_path / "elsewhere.db") == 0o644  # never through a symlink


def test_reading_changes_no_mode_and_creates_nothing(tmp_path, capsys, monkeypatch):
    from strata.cli import main

    home = _loose_home(tmp_path)
    (home / "keys.db").unlink()
    (home / "usage.db").unlink()
    (home / "usage.db-wal").unlink()
    monkeypatch.setenv("STRATA_HOME", str(home))
    before = {p.name: mode(p) for p in home.iterdir()}
    assert main(["keys", "list", "--json"]) == 0 and capsys.readouterr().out.strip() == "[]"
    assert main(["usage", "--json"]) == 0 and capsys.readouterr().out.strip() == "[]"
    assert {p.name: mode(p) for p in home.iterdir()} == before
    assert mode(home) == 0o755


def test_a_populated_home_is_read_without_chmod(tmp_path, capsys, monkeypatch):
    from strata.cli import main

    home = tmp_path / "home"
    store = KeyStore.open(GatewaySettings(home=home))
    store.create_keys("acme")
    store.close()
    home.chmod(0o755)
    (home / "keys.db").chmod(0o640)
    monkeypatch.setenv("STRATA_HOME", str(home))
    assert main(["keys", "list", "--json"]) == 0
    assert '"tenant_id": "acme"' in capsys.readouterr().out
    assert (mode(home), mode(home / "keys.db")) == (0o755, 0o640)


def test_a_home_under_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(HomeError) as excinfo:
        ensure_dir(tmp_path / "file" / "home")
    message = str(excinfo.value)
    assert str(tmp_path / "file" / "home") in message and "STRATA_HOME" in message


def test_a_read_only_database_is_opened_read_only(tmp_path, monkeypatch):
    """Where the process cannot write, a database opens read-only and a missing one is an error."""
    path = tmp_path / "usage.db"
    store = UsageStore(path)
    add_usage(store)
    store.close()  # a clean close removes -wal and -shm, the case mode=ro alone cannot open
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.db"]
    # Root ignores mode bits, so this unit test says "not writable" directly; test_home_cli.py
    # uses a real read-only mount.
    monkeypatch.setattr("strata.home._writable", lambda directory: False)
    conn = connect_state_db(path)
    assert conn.execute("SELECT count(*) FROM usage").fetchone() == (1,)
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM usage")
    conn.close()
    with pytest.raises(HomeError, match="not writable"):
        connect_state_db(tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()
