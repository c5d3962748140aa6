"""The usage writer through a database outage: answers stay fast once it is known to be down, and
the spool file survives a crash in the middle of an append."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from model_layer.state.usage import UsageStore
from model_layer.state.writer import UsageWriter
from tests.model_layer.state.usage_rows import usage_record

_record = usage_record


class Database:
    """The real store's batch write behind a switch, counting the attempts made on it."""

    def __init__(self, store: UsageStore):
        self.store, self.up, self.attempts, self.fail_next = store, True, 0, 0

    def __call__(self, records, marks=()) -> None:
        self.attempts += 1
        if not self.up or self.fail_next:
            self.fail_next = max(0, self.fail_next - 1)
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        self.store.add_many(records, marks)


def test_once_a_batch_is_spooled_later_ones_do_not_wait_out_the_retries_again(store, tmp_path):
    spool = tmp_path / "spool.jsonl"
    db = Database(store)
    writer = UsageWriter(db, spool, retry_delays_s=(0.0, 0.0, 0.0))
    db.up = False
    assert writer.commit([_record(1)]) is None  # 4 attempts, then the spool
    assert db.attempts == 4
    # Still down: one attempt, then the spool (with real delays, seconds saved on every answer).
    assert writer.commit([_record(2)]) is None
    assert writer.commit([_record(3)]) is None
    assert db.attempts == 6
    db.up = True
    assert writer.commit([_record(4)]) is None  # the spool first, then this batch
    assert sorted(r.input_tokens for r in store.records()) == [1, 2, 3, 4]
    assert not spool.exists()
    # The outage is over: a passing failure is retried again, not spooled.
    db.fail_next = 1
    assert writer.commit([_record(5)]) is None
    assert not spool.exists() and len(store.records()) == 5


def test_a_record_spooled_after_a_line_cut_short_by_a_crash_is_replayed(store, tmp_path):
    spool = tmp_path / "spool.jsonl"
    spool.write_text('{"at": 1.0, "tenant_')  # kill -9 in the middle of an append, database still down
    db = Database(store)
    db.up = False
    writer = UsageWriter(db, spool, retry_delays_s=())  # the replay at start fails: the spool stays
    assert writer.commit([_record(7)]) is None  # appended after the cut line, not glued to it
    db.up = True
    assert writer.commit([_record(8)]) is None
    assert sorted(r.input_tokens for r in store.records()) == [7, 8]
