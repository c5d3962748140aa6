"""One-time import of the first release's ``keys.db`` and ``usage.db`` into the state database.

Before the state package, keys lived in ``$STRATA_HOME/keys.db`` and usage in ``usage.db``. On the
first open of a writable state database, their rows are copied over (tenants and key sets keep
their ids, sealed secrets and hashes, so issued credentials keep working), and the old files are
renamed ``*.imported`` so it happens once.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from model_layer.state.records import UsageRecord

if TYPE_CHECKING:
    from model_layer.state import State

log = logging.getLogger("strata.state")

_TENANT_COLUMNS = ("tenant_id", "created_at", "requests_per_minute", "tokens_per_minute")
_KEY_COLUMNS = (
    "access_key_id",
    "tenant_id",
    "sealed_secret",
    "api_key_sha256",
    "api_key_hint",
    "created_at",
    "revoked_at",
)


def _rows(path: Path, table: str, columns: tuple[str, ...]) -> list[dict]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
    finally:
        conn.close()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def import_legacy_files(state: State, home: Path) -> None:
    keys_db, usage_db = home / "keys.db", home / "usage.db"
    try:
        if keys_db.is_file():
            imported = state.tenants.import_rows(
                _rows(keys_db, "tenants", _TENANT_COLUMNS), _rows(keys_db, "key_sets", _KEY_COLUMNS)
            )
            keys_db.rename(keys_db.with_suffix(".db.imported"))
            log.warning("imported %d key sets from %s", imported, keys_db)
        if usage_db.is_file():
            columns = (
                "at",
                "tenant_id",
                "key_id",
                "model_id",
                "operation",
                "input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_write_input_tokens",
                "cost_usd",
                "latency_ms",
                "error_code",
                "request_id",
            )
            rows = _rows(usage_db, "usage", columns)
            records = [
                UsageRecord(**row, outcome="error" if row["error_code"] else "complete") for row in rows
            ]
            state.usage.add_many(records)
            usage_db.rename(usage_db.with_suffix(".db.imported"))
            log.warning("imported %d usage records from %s", len(records), usage_db)
    except (sqlite3.Error, OSError) as exc:
        log.warning("could not import the legacy state files in %s: %s", home, exc)
