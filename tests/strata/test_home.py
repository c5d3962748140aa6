"""STRATA_HOME: private modes (SQLite's -wal/-shm included), tightening on write, never on read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from model_layer.auth.keystore import KeyStore
from model_layer.settings import GatewaySettings
from model_layer.state import (
    StateReadOnlyError,
    StateUnavailableError,
    UsageRecord,
    UsageStore,
    open_database,
)
from model_layer.state.database import sqlite_url
from strata.home import HomeError, ensure_dir, strata_home, writable_home


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def add_usage(store: UsageStore) -> None:
    store.add(UsageRecord(1.0e9, "acme", "AKIAX", "m", "Converse", 3, 4, 0, 0, 0.0, 5, "complete"))


def test_a_new_home_is_0700(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATA_HOME", str(tmp_path / "a" / "home"))
    home = strata_home()
    assert home == tmp_path / "a" / "home" and mode(home) == 0o700


def test_the_state_db_and_its_wal_and_shm_are_0600(tmp_path):
    previous = os.umask(0o022)  # the usual umask, under which SQLite alone creates 0644 files
    store = KeyStore.open(GatewaySettings(home=tmp_path))
    try:
        store.create_keys("acme")
        add_usage(store.state.usage)
        dbs = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("strata.db"))
        assert dbs == ["strata.db", "strata.db-shm", "strata.db-wal", "strata.db.migrate-lock"]
        assert {name: mode(tmp_path / name) for name in dbs} == dict.fromkeys(dbs, 0o600)
    finally:
        store.close()
        os.umask(previous)


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
    (home / "strata.db").chmod(0o640)
    monkeypatch.setenv("STRATA_HOME", str(home))
    assert main(["keys", "list", "--json"]) == 0
    assert '"tenant_id": "acme"' in capsys.readouterr().out
    assert (mode(home), mode(home / "strata.db")) == (0o755, 0o640)


def test_a_home_under_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(HomeError) as excinfo:
        ensure_dir(tmp_path / "file" / "home")
    message = str(excinfo.value)
    assert str(tmp_path / "file" / "home") in message and "STRATA_HOME" in message


def test_a_read_only_database_is_opened_read_only(tmp_path, monkeypatch):
    """Where the process cannot write, the state opens read-only and a missing one is an error."""
    path = tmp_path / "strata.db"
    db = open_database(sqlite_url(path))
    add_usage(UsageStore(db))
    db.dispose()  # a clean close removes -wal and -shm, the case mode=ro alone cannot open
    assert "strata.db-wal" not in {p.name for p in tmp_path.iterdir()}
    # Root ignores mode bits, so this unit test says "not writable" directly; test_home_cli.py
    # uses a real read-only mount.
    monkeypatch.setattr("model_layer.state.database.is_writable", lambda directory: False)
    ro = open_database(sqlite_url(path))
    assert ro.read_only and len(UsageStore(ro).records()) == 1
    with pytest.raises(StateReadOnlyError):
        add_usage(UsageStore(ro))
    ro.dispose()
    with pytest.raises(StateUnavailableError, match="not writable"):
        open_database(sqlite_url(tmp_path / "absent.db"))
    assert not (tmp_path / "absent.db").exists()
