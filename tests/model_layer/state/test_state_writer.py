"""The usage writer: group commits off the event loop, retries, and a spool that loses nothing."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import OperationalError

from model_layer.state import UsageRecord
from model_layer.state.usage import UsageStore
from model_layer.state.writer import UsageWriter
from tests.model_layer.state.usage_rows import usage_record

_record = usage_record


class Flaky:
    """The real store's batch write, failing its first ``failures`` calls the way a database does."""

    def __init__(self, store: UsageStore, failures: int):
        self.store, self.failures, self.batches = store, failures, []

    def __call__(self, records, marks=()) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        self.batches.append(len(records))
        self.store.add_many(records, marks)


def write_all(writer: UsageWriter, records: list[UsageRecord]) -> list[BaseException | None]:
    async def scenario():
        results = await asyncio.gather(*(writer.write(r) for r in records), return_exceptions=True)
        await writer.aclose()
        return results

    return asyncio.run(scenario())


def test_concurrent_writes_share_commits(store):
    write = Flaky(store, failures=0)
    results = write_all(UsageWriter(write), [_record(i) for i in range(200)])
    assert results == [None] * 200
    assert len(store.records(limit=500)) == 200
    assert sum(write.batches) == 200 and len(write.batches) < 200  # commits carried several records


def test_awaiting_a_write_means_it_is_committed(store):
    writer = UsageWriter(store.add_many)

    async def go() -> list[int]:
        await writer.write(_record(7))
        return [r.input_tokens for r in store.records()]  # read before anything else runs

    assert asyncio.run(go()) == [7]


def test_a_cancelled_caller_does_not_lose_its_record(store):
    writer = UsageWriter(store.add_many)

    async def go() -> None:
        task = asyncio.ensure_future(writer.write(_record(3)))
        await asyncio.sleep(0)  # the write is queued
        task.cancel()
        await writer.aclose()

    asyncio.run(go())
    assert [r.input_tokens for r in store.records()] == [3]


def test_a_transient_failure_is_retried(store):
    writer = UsageWriter(Flaky(store, failures=2), retry_delays_s=(0.0, 0.0, 0.0))
    assert write_all(writer, [_record(1)]) == [None]
    assert len(store.records()) == 1


def test_a_long_outage_spools_then_replays(store, tmp_path):
    spool = tmp_path / "spool.jsonl"
    writer = UsageWriter(Flaky(store, failures=3), spool, retry_delays_s=(0.0, 0.0))  # 3 attempts, all fail
    assert write_all(writer, [_record(1)]) == [None]  # acknowledged: it is safe in the spool
    assert spool.exists() and store.records() == []
    assert write_all(writer, [_record(2)]) == [None]  # the database is back: spool first, then this
    assert sorted(r.input_tokens for r in store.records()) == [1, 2]
    assert not spool.exists()


def test_a_spool_left_by_a_dead_process_is_replayed_at_start(store, tmp_path):
    spool = tmp_path / "spool.jsonl"
    assert write_all(UsageWriter(Flaky(store, failures=10), spool, retry_delays_s=()), [_record(5)]) == [None]
    with spool.open("a") as fh:
        fh.write('{"at": 1.0, "tenant_')  # a line cut short by kill -9 mid-append
    UsageWriter(store.add_many, spool)
    assert [r.input_tokens for r in store.records()] == [5]


def test_without_a_spool_the_failure_reaches_the_caller(store):
    [result] = write_all(UsageWriter(Flaky(store, failures=10), retry_delays_s=()), [_record(1)])
    assert isinstance(result, OperationalError)
