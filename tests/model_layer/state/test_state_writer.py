"""The usage writer: batched commits off the caller's thread, retries, and a spool that loses nothing."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy.exc import OperationalError

from model_layer.state import UsageRecord, open_database, sqlite_url
from model_layer.state.usage import UsageStore
from model_layer.state.writer import UsageWriter


def _record(i: int) -> UsageRecord:
    return UsageRecord(time.time(), "acme", "AKIA1", "m", "Converse", i, 1, 0, 0, 0.001, 5, "complete")


@pytest.fixture
def store(tmp_path):
    db = open_database(sqlite_url(tmp_path / "state.db"))
    yield UsageStore(db)
    db.dispose()


class Flaky:
    """The real store's batch write, failing its first ``failures`` calls the way a database does."""

    def __init__(self, store: UsageStore, failures: int):
        self.store, self.failures, self.batches = store, failures, []

    def __call__(self, records) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        self.batches.append(len(records))
        self.store.add_many(records)


def test_concurrent_writers_share_commits(store):
    write = Flaky(store, failures=0)
    writer = UsageWriter(write)
    futures = []
    lock = threading.Lock()

    def submit_many() -> None:
        for i in range(50):
            future = writer.submit(_record(i))
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=submit_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for f in futures:
        f.result(timeout=30)
    writer.close()
    assert len(store.records(limit=500)) == 200
    assert sum(write.batches) == 200 and len(write.batches) < 200  # some commits carried several


def test_awaiting_a_write_means_it_is_committed(store):
    writer = UsageWriter(store.add_many)

    async def go() -> None:
        await writer.write(_record(7))

    asyncio.run(go())
    assert [r.input_tokens for r in store.records()] == [7]
    writer.close()


def test_a_transient_failure_is_retried(store):
    write = Flaky(store, failures=2)
    writer = UsageWriter(write, retry_delays_s=(0.0, 0.0, 0.0))
    writer.submit(_record(1)).result(timeout=10)
    writer.close()
    assert len(store.records()) == 1


def test_a_long_outage_spools_then_replays(store, tmp_path):
    spool = tmp_path / "spool.jsonl"
    write = Flaky(store, failures=3)
    writer = UsageWriter(write, spool, retry_delays_s=(0.0, 0.0))  # 3 attempts, all fail
    writer.submit(_record(1)).result(timeout=10)  # acknowledged: it is safe in the spool
    assert spool.exists() and store.records() == []
    writer.submit(_record(2)).result(timeout=10)  # the database is back: spool first, then this
    writer.close()
    assert sorted(r.input_tokens for r in store.records()) == [1, 2]
    assert not spool.exists()


def test_a_spool_left_by_a_dead_process_is_replayed_at_start(store, tmp_path):
    spool = tmp_path / "spool.jsonl"
    first = UsageWriter(Flaky(store, failures=10), spool, retry_delays_s=())
    first.submit(_record(5)).result(timeout=10)
    first.close()
    with spool.open("a") as fh:
        fh.write('{"at": 1.0, "tenant_')  # a line cut short by kill -9 mid-append
    UsageWriter(store.add_many, spool).close()
    assert [r.input_tokens for r in store.records()] == [5]


def test_without_a_spool_the_failure_reaches_the_caller(store):
    writer = UsageWriter(Flaky(store, failures=10), retry_delays_s=())
    with pytest.raises(OperationalError):
        writer.submit(_record(1)).result(timeout=10)
    writer.close()
