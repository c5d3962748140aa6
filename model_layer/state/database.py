"""Opening the state database (SQLite by default, PostgreSQL by URL) and migrating it to the latest schema.

``open_database(url)`` returns a :class:`Database`: a SQLAlchemy engine with the pragmas and
transaction rules each backend needs, already migrated (Alembic, ``migrations/versions``) under
a lock so that two replicas or a CLI starting beside a gateway never migrate twice.

SQLite specifics: the file is created 0600 (SQLite gives its ``-wal``/``-shm`` files the database
file's mode), WAL journal so readers never block the writer, ``synchronous=NORMAL`` (a commit
survives a killed process; only an OS crash can lose the last ones), and write transactions start
with ``BEGIN IMMEDIATE`` so concurrent writers wait on ``busy_timeout`` instead of failing. A
database that exists but cannot be written (read-only file system or file) is opened read-only:
listing keys and usage still works, writes fail with a clear :class:`StateReadOnlyError`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from strata.errors import ConfigurationError, StrataError
from strata.home import create_private_file, ensure_dir, is_writable

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x5354_5241  # "STRA": pg_advisory_lock key held while migrating
# libpq waits for ever by default: a server that accepts a connection and never answers (a hung
# host, a half-open path) would hang every caller. A `connect_timeout` in the URL wins.
PG_CONNECT_TIMEOUT_S = 5


class StateReadOnlyError(StrataError):
    """A write was asked of a state database opened read-only."""


class StateUnavailableError(StrataError):
    """The state database cannot be reached or opened."""


@dataclass
class Database:
    """The engine plus what callers need to know about it."""

    engine: Engine
    url: str  # with any password masked, for messages
    read_only: bool = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        if self.read_only:
            raise StateReadOnlyError(
                f"the state database {self.url} is read-only",
                hint="point STRATA_HOME (or [state] url) at a writable location",
            )
        with self._transaction(strata_write=True) as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self._transaction() as conn:
            yield conn

    @contextlib.contextmanager
    def raw_write(self) -> Iterator[Any]:
        """A write transaction on a bare DBAPI cursor, for the one write on every call's path (usage).

        SQLAlchemy's connection, event and transaction machinery cost more than SQLite's own work
        for a small batch; here a pooled driver connection is used directly: ``BEGIN IMMEDIATE``
        on SQLite (its connections are in autocommit mode, see :func:`_sqlite_rules`), psycopg's
        implicit transaction on PostgreSQL, one commit.
        """
        if self.read_only:
            raise StateReadOnlyError(f"the state database {self.url} is read-only")
        driver_error = self.engine.dialect.loaded_dbapi.OperationalError
        try:
            conn = self.engine.raw_connection()
        except OperationalError as exc:
            raise StateUnavailableError(f"the state database {self.url} is unavailable") from exc
        cursor = conn.cursor()
        try:
            if self.dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            yield cursor
            conn.commit()
        except driver_error as exc:
            conn.rollback()
            raise StateUnavailableError(
                f"the state database {self.url} is unavailable ({type(exc).__name__})"
            ) from exc
        except BaseException:
            conn.rollback()
            raise
        finally:
            cursor.close()
            conn.close()  # back to the pool

    @contextlib.contextmanager
    def _transaction(self, **options: bool) -> Iterator[Connection]:
        """A database that cannot be reached (or is locked past the busy timeout) is a
        :class:`StateUnavailableError`, which the API answers as 503; other errors stay as they are."""
        driver_error = self.engine.dialect.loaded_dbapi.OperationalError  # raw cursor use (usage.py)
        try:
            with self.engine.connect().execution_options(**options) as conn, conn.begin():
                yield conn
        except (OperationalError, driver_error) as exc:
            cause = getattr(exc, "orig", None) or exc
            raise StateUnavailableError(
                f"the state database {self.url} is unavailable ({type(cause).__name__})",
                hint="retry shortly",
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_database(url: str, *, migrate_schema: bool = True) -> Database:
    """Open (creating and migrating if needed) the database at ``url``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = _open_sqlite(Path(parsed.database or ""))
    elif parsed.get_backend_name() == "postgresql":
        db = _open_postgresql(url)
    else:
        raise ConfigurationError(
            f"unsupported state database {parsed.get_backend_name()!r}",
            hint="use sqlite:///path or postgresql://user@host/db",
        )
    if migrate_schema:
        migrate(db)
    return db


def _open_sqlite(path: Path) -> Database:
    if not str(path) or str(path) == ":memory:":
        raise ConfigurationError("the state database must be a file", hint="use sqlite:///path/to/strata.db")
    directory = ensure_dir(path.parent)
    writable = is_writable(directory) and (not path.exists() or os.access(path, os.W_OK))
    if writable:
        create_private_file(path)  # 0600 before SQLite opens it, so its -wal/-shm are 0600 too
        return Database(_sqlite_engine(path, "uri=true", read_only=False), str(path))
    if not path.exists():
        raise StateUnavailableError(
            f"cannot create the state database {path}: {directory} is not writable",
            hint="set STRATA_HOME to a writable directory",
        )
    # Read-only: mode=ro works while a writer holds the WAL open; a cleanly closed WAL database in a
    # read-only directory opens only as immutable (SQLite cannot create its -shm file there).
    for query in ("mode=ro&uri=true", "immutable=1&uri=true"):
        engine = _sqlite_engine(path, query, read_only=True)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master")
            return Database(engine, str(path), read_only=True)
        except SQLAlchemyError:
            engine.dispose()
    raise StateUnavailableError(f"cannot read the state database {path}", hint="check its permissions")


def _sqlite_engine(path: Path, query: str, *, read_only: bool) -> Engine:
    # The URI form is the only one that can say "read-only" (SQLAlchemy passes uri=true through).
    engine = create_engine(
        f"sqlite+pysqlite:///file:{path}?{query}", connect_args={"check_same_thread": False, "timeout": 5}
    )
    _sqlite_rules(engine, read_only)
    return engine


def _sqlite_rules(engine: Engine, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
        cursor = dbapi_conn.cursor()
        if not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("strata_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _open_postgresql(url: str) -> Database:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    engine = create_engine(parsed, pool_pre_ping=True, pool_size=8, max_overflow=8, connect_args=connect_args)
    return Database(engine, parsed.render_as_string(hide_password=True))


# --- migrations ----------------------------------------------------------------------------------


def _alembic_config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> frozenset[str]:
    """The newest revision of every migration branch.

    Each subsystem that keeps state (the core tables; guardrails, knowledge bases, agents) has a
    branch of its own off the base revision, so their migrations never conflict.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def current_revision(db: Database) -> frozenset[str]:
    with db.engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def migrate(db: Database) -> None:
    """Bring the schema to the latest revision, once, whoever else is starting at the same time.

    A writable SQLite file is checked under the migration lock too: the first connections to a
    new file switch it to WAL, and on a loaded host concurrent first opens outside the lock could
    wait past the busy timeout (seen once in CI). PostgreSQL checks first and locks only to upgrade.
    """
    try:
        if db.dialect == "sqlite" and not db.read_only:
            with _migration_lock(db):
                _upgrade_if_behind(db, locked=True)
        else:
            _upgrade_if_behind(db, locked=False)
    except SQLAlchemyError as exc:
        raise StateUnavailableError(
            f"cannot open the state database {db.url}: {type(exc.orig or exc).__name__}",
            hint="check [state] url / STRATA_STATE_URL and that the server is up",
        ) from exc


def _upgrade_if_behind(db: Database, *, locked: bool) -> None:
    if current_revision(db) == head_revision():
        return
    if db.read_only:
        raise StateReadOnlyError(
            f"the state database {db.url} needs a schema upgrade but is read-only",
            hint="run any strata command once with write access",
        )
    with (
        contextlib.nullcontext() if locked else _migration_lock(db),
        db.engine.connect().execution_options(strata_write=True) as conn,
    ):
        command.upgrade(_alembic_config(conn), "heads")
        conn.commit()


@contextlib.contextmanager
def _migration_lock(db: Database) -> Iterator[None]:
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_MIGRATION_LOCK})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_MIGRATION_LOCK})")
                conn.commit()
        return
    lock_path = Path(db.url + ".migrate-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
