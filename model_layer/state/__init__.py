"""The gateway's shared state: tenants, keys, limits, usage — SQLite by default, PostgreSQL by URL.

``open_state(settings)`` opens the database named by ``STRATA_STATE_URL`` or ``[state] url`` in
``strata.toml`` (default: ``$STRATA_HOME/strata.db``), migrates it (Alembic) and returns a
:class:`State`. Several gateway replicas pointed at one PostgreSQL share everything here; what a
replica keeps in memory (:mod:`~model_layer.state.cache`) is a cache with invalidation, and usage
is durable before a response completes (:mod:`~model_layer.state.writer`): committed, or in the
local usage journal (:mod:`~model_layer.state.journal`; ``[state] usage_ack``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from model_layer.config import StateConfig
from model_layer.settings import GatewaySettings
from model_layer.state.database import (
    Database,
    StateReadOnlyError,
    StateUnavailableError,
    open_database,
    sqlite_url,
)
from model_layer.state.legacy import import_legacy_files
from model_layer.state.records import (
    KeySetRecord,
    ModelLimit,
    Spend,
    TenantRecord,
    UsageRecord,
    UsageSummary,
)
from model_layer.state.tenants import UNSET, TenantStore
from model_layer.state.usage import UsageStore

__all__ = [
    "DB_FILE_NAME",
    "UNSET",
    "Database",
    "KeySetRecord",
    "ModelLimit",
    "Spend",
    "State",
    "StateReadOnlyError",
    "StateUnavailableError",
    "TenantRecord",
    "TenantStore",
    "UsageRecord",
    "UsageStore",
    "UsageSummary",
    "open_state",
    "state_url",
]

DB_FILE_NAME = "strata.db"
SPOOL_FILE_NAME = "usage-spool.jsonl"
JOURNAL_DIR_NAME = "usage-journal"


@dataclass
class State:
    db: Database
    tenants: TenantStore = field(init=False)
    usage: UsageStore = field(init=False)
    spool: Path | None = None  # where usage goes when the database is down (see writer.py)
    journal_dir: Path | None = None  # the local usage journal; None = a response waits for its commit

    def __post_init__(self) -> None:
        self.tenants = TenantStore(self.db)
        self.usage = UsageStore(self.db)

    def close(self) -> None:
        self.db.dispose()


class StateSettings(BaseSettings):
    """``STRATA_STATE_URL`` and ``STRATA_STATE_POLL_INTERVAL_S``; they override ``[state]`` in strata.toml."""

    model_config = SettingsConfigDict(env_prefix="STRATA_STATE_", extra="ignore")

    url: str | None = None
    poll_interval_s: float | None = None
    usage_ack: Literal["journal", "commit"] | None = None


def state_config(settings: GatewaySettings) -> StateConfig:
    """The effective ``[state]``: environment over strata.toml over defaults (SQLite in the home)."""
    from model_layer.config import load_config

    home = settings.state_dir()
    configured = load_config(settings.config_file, home=home).state
    env = StateSettings()
    url = env.url or configured.url or sqlite_url(home / DB_FILE_NAME)
    default_ack = "journal" if url.startswith("sqlite") else "commit"  # see model_layer/state/journal.py
    return StateConfig(
        url=url,
        poll_interval_s=env.poll_interval_s or configured.poll_interval_s,
        usage_ack=env.usage_ack or configured.usage_ack or default_ack,
    )


def state_url(settings: GatewaySettings) -> str:
    return state_config(settings).url or ""


def open_state(settings: GatewaySettings) -> State:
    """Open (create, migrate) the state the settings name; import a pre-0.2 ``keys.db``/``usage.db`` once."""
    config = state_config(settings)
    db = open_database(config.url or "")
    home = settings.state_dir()
    journal = home / JOURNAL_DIR_NAME if config.usage_ack == "journal" else None
    state = State(db, spool=home / SPOOL_FILE_NAME, journal_dir=journal)
    if not db.read_only:
        import_legacy_files(state, home)
    return state
