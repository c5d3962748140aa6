"""``kill -9`` of a gateway replica under load loses no acknowledged usage, on both state backends.

Clients (boto3 and openai, plain and streaming) hammer the replicas from several threads; one
replica is killed with SIGKILL part-way. Every call the clients saw succeed (a 200 whose body the
SDK read to its end) must have its usage row afterwards, found by the request id the gateway
returned; so must every stream cut off after its last event (``metadata`` / the usage chunk: the
whole answer and its token counts), which goes out only once its usage is durable. The killed
replica then restarts on the same state: it starts cleanly (the schema already at head, nothing
left spooled, its usage journal replayed once) and serves again.

With SQLite a response waits for the usage journal's append, not the commit (journal.py), so the
rows a killed replica had not committed yet appear when it restarts; the last test makes that
case certain by holding the database's write lock while calls are answered, then killing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from cryptography.fernet import Fernet

from model_layer.state import JOURNAL_DIR_NAME, SPOOL_FILE_NAME, UsageStore, open_database, sqlite_url
from model_layer.state.database import current_revision, head_revision
from tests.model_layer.state.pg_server import fresh_database
from tests.model_layer.state.replicas import (
    FAKE_TOML,
    Admin,
    Answer,
    Keys,
    Replica,
    Truncated,
    bedrock,
    chat,
    chat_stream,
    converse,
    converse_stream,
    openai_client,
    replica_env,
    start_all,
    wait_until,
)
from tests.model_layer.tenancy.redis_server import running_redis

TOTAL_CALLS = 400
KILL_AFTER = 120  # acknowledged calls before the kill
THREADS = 8


@dataclass
class Load:
    """What the clients saw: answers (acknowledged), streams cut after their last event, failures."""

    answers: list[tuple[str, Answer]] = field(default_factory=list)  # (replica name, answer)
    truncated: list[Truncated] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)

    def acknowledged(self) -> set[str]:
        return {answer.request_id for _, answer in self.answers}


def _calls(replica: Replica, keys: Keys) -> list[tuple[str, Callable[[str], Answer]]]:
    sigv4, api_key = bedrock(replica, keys), openai_client(replica, keys)
    return [
        (replica.name, lambda text: converse(sigv4, text)),
        (replica.name, lambda text: chat(api_key, text)),
        (replica.name, lambda text: converse_stream(sigv4, text)),
        (replica.name, lambda text: chat_stream(api_key, text)),
    ]


def hammer(calls: list[tuple[str, Callable[[str], Answer]]], victim: Replica) -> Load:
    """TOTAL_CALLS calls from THREADS threads, round-robin over ``calls``; SIGKILL ``victim`` part-way."""
    load, lock, numbers = Load(), threading.Lock(), iter(range(TOTAL_CALLS))

    def client() -> None:
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            name, call = calls[n % len(calls)]
            try:
                answer = call(f"call {n} " + "word " * (n % 5))
            except Truncated as cut:
                with lock:
                    load.truncated.append(cut)
            except Exception as exc:  # the SDKs' connection errors differ; all count as not acknowledged
                with lock:
                    load.failures[type(exc).__name__] += 1
            else:
                with lock:
                    load.answers.append((name, answer))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    wait_until(lambda: len(load.answers) >= KILL_AFTER, 60, f"{KILL_AFTER} answers before the kill")
    victim.kill()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "clients still running"
    return load


def recorded_ids(url: str) -> set[str]:
    ids = recorded_rows(url)
    assert len(ids) == len(set(ids)), "a call was metered twice"
    return set(ids)


def recorded_rows(url: str) -> list[str]:
    db = open_database(url, migrate_schema=False)
    try:
        return [r.request_id for r in UsageStore(db).records(limit=100_000) if r.request_id]
    finally:
        db.dispose()


def report(backend: str, load: Load, recorded: set[str], victim: str) -> str:
    acked = load.acknowledged()
    on_victim = sum(1 for name, _ in load.answers if name == victim)
    cut = {t.request_id for t in load.truncated}
    extra = len(recorded - acked - cut)
    kinds = Counter(t.operation for t in load.truncated)
    return (
        f"\n{backend}: {TOTAL_CALLS} calls, {len(acked)} acknowledged ({on_victim} by the killed replica),"
        f" {len(recorded)} usage rows; acknowledged without a row: {len(acked - recorded)};"
        f" rows for calls never acknowledged (in flight at the kill): {extra};"
        f" streams cut after their last event: {dict(kinds)} (with a row: {len(cut & recorded)});"
        f" failures: {dict(load.failures)}"
    )


def restart_cleanly(replica: Replica, keys: Keys, url: str) -> set[str]:
    """Back on the same state: schema already at head, nothing spooled, the journal replayed once,
    serving and metering again. The request ids recorded once it is up (before its next call)."""
    db = open_database(url, migrate_schema=False)
    assert current_revision(db) == head_revision()
    db.dispose()
    replica.start().wait_ready()
    assert not (replica.home / SPOOL_FILE_NAME).exists()
    assert "Traceback" not in replica.output() and "ERROR" not in replica.output()
    assert not any(p.stat().st_size for p in (replica.home / JOURNAL_DIR_NAME).glob("*"))
    before = recorded_ids(url)
    answer = converse(bedrock(replica, keys), "after the restart")
    # Journalled (SQLite): the row is committed within the writer's batching delay, not before.
    wait_until(lambda: recorded_ids(url) == before | {answer.request_id}, 10, "the new call's usage row")
    return before


def test_kill9_of_a_replica_on_postgresql_loses_no_acknowledged_usage(postgres_server, tmp_path):
    url = fresh_database(postgres_server)
    config = tmp_path / "strata.toml"
    config.write_text(FAKE_TOML)
    with running_redis(tmp_path) as redis_url:
        env = replica_env(url, redis_url, Fernet.generate_key().decode(), 0.5)
        a = Replica("A", tmp_path / "home-a", config, env)
        b = Replica("B", tmp_path / "home-b", config, env)
        try:
            start_all([a, b])
            keys = Admin(b).create_keys("hammer")
            load = hammer(_calls(a, keys) + _calls(b, keys), victim=a)
            assert not (a.home / SPOOL_FILE_NAME).exists()  # the database was up: nothing spooled
            assert recorded_ids(url) >= load.acknowledged()  # PostgreSQL: committed before the answer
            recorded = restart_cleanly(a, keys, url)
            print(report("PostgreSQL", load, recorded, "A"))
            assert load.acknowledged() <= recorded
            assert {t.request_id for t in load.truncated} <= recorded  # a stream's last event, after its row
            assert sum(1 for name, _ in load.answers if name == "A") >= KILL_AFTER // 4
        finally:
            a.stop()
            b.stop()


def test_kill9_of_the_replica_on_sqlite_loses_no_acknowledged_usage(tmp_path):
    config = tmp_path / "strata.toml"
    config.write_text(FAKE_TOML)
    home = tmp_path / "home"
    url = sqlite_url(home / "strata.db")  # the embedded default: a file in the replica's home
    replica = Replica("S", home, config, replica_env(None, None, Fernet.generate_key().decode(), 0.5))
    try:
        replica.start().wait_ready()
        keys = Admin(replica).create_keys("hammer")
        load = hammer(_calls(replica, keys), victim=replica)
        assert not (home / SPOOL_FILE_NAME).exists()
        recorded = restart_cleanly(replica, keys, url)  # replays what the journal held
        print(report("SQLite", load, recorded, "S"))
        assert load.acknowledged() <= recorded
        assert {t.request_id for t in load.truncated} <= recorded
    finally:
        replica.stop()


def test_calls_answered_while_the_database_is_locked_survive_kill9_in_the_journal(tmp_path):
    config = tmp_path / "strata.toml"
    config.write_text(FAKE_TOML)
    home = tmp_path / "home"
    url = sqlite_url(home / "strata.db")
    replica = Replica("J", home, config, replica_env(None, None, Fernet.generate_key().decode(), 0.5))
    try:
        replica.start().wait_ready()
        keys = Admin(replica).create_keys("journal")
        client = bedrock(replica, keys)
        committed = {converse(client, f"before {i}").request_id for i in range(5)}
        wait_until(lambda: recorded_ids(url) >= committed, 10, "the first calls committed")
        lock = sqlite3.connect(home / "strata.db", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # every commit now waits on this lock
        try:
            journalled = {converse(client, f"locked {i}").request_id for i in range(8)}
            replica.kill()
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert recorded_ids(url) == committed  # the killed replica never committed these
        assert not (home / SPOOL_FILE_NAME).exists()
        recorded = restart_cleanly(replica, keys, url)
        assert recorded == committed | journalled  # replayed from the journal, each once
    finally:
        replica.stop()


@pytest.fixture(autouse=True)
def _bounded_time():
    started = time.monotonic()
    yield
    # Not a timing assertion: a guard that the test stays as small as it was designed to be.
    assert time.monotonic() - started < 240
