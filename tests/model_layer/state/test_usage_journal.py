"""The usage journal: a response waits for a local append, not the commit; a replay counts each call once.

A dead process is played by closing a journal's files without removing them (what ``kill -9``
leaves: the entries written, the ``flock`` released by the kernel). The subprocess ``kill -9``
of a whole gateway is in test_kill9_live.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from model_layer.state.journal import SUFFIX, UsageJournal, orphans
from model_layer.state.schema import usage_journal
from model_layer.state.usage import UsageStore
from model_layer.state.writer import UsageWriter
from tests.model_layer.state.usage_rows import usage_record

_record = usage_record


def _tokens(store: UsageStore) -> list[int]:
    return sorted(r.input_tokens for r in store.records(limit=10_000))


def _progress_rows(store: UsageStore) -> dict[str, int]:
    with store.db.read() as conn:
        return dict(conn.execute(select(usage_journal.c.journal_id, usage_journal.c.seq)).all())


def _die(journal: UsageJournal) -> None:
    """What kill -9 leaves: the files as they are, their locks released."""
    for segment in journal._segments:
        os.close(segment.fd)
    journal._segments.clear()


def _journal_files(directory) -> list:
    return sorted(directory.glob(f"*{SUFFIX}"))


class Gate:
    """The store's batch write, held until the test opens the gate."""

    def __init__(self, store: UsageStore):
        self.store, self.open, self.entered = store, threading.Event(), threading.Event()

    def __call__(self, records, marks=()) -> None:
        self.entered.set()
        assert self.open.wait(10), "the test never opened the gate"
        self.store.add_many(records, marks)


def test_a_write_returns_once_journalled_and_the_commit_follows(store, tmp_path):
    gate = Gate(store)
    journal = UsageJournal(tmp_path / "journal")
    writer = UsageWriter(gate, journal=journal, forget=store.forget_journals)

    async def go() -> None:
        await asyncio.wait_for(writer.write(_record(7)), 5)  # returns while the commit is held
        [path] = _journal_files(tmp_path / "journal")
        assert json.loads(path.read_text())["r"]["input_tokens"] == 7
        assert await asyncio.to_thread(gate.entered.wait, 5)
        assert store.records() == []  # not committed yet: the journal is what holds it
        gate.open.set()
        await writer.aclose()

    asyncio.run(go())
    assert _tokens(store) == [7]
    assert _journal_files(tmp_path / "journal") == []  # a clean stop leaves no journal
    assert _progress_rows(store) == {}  # ... and no progress rows


def test_committed_entries_are_dropped_from_the_journal(store, tmp_path):
    journal = UsageJournal(tmp_path / "journal")
    writer = UsageWriter(store.add_many, journal=journal)

    async def go() -> None:
        await asyncio.gather(*(writer.write(_record(i)) for i in range(50)))
        await writer._flushing

    asyncio.run(go())
    [path] = _journal_files(tmp_path / "journal")
    assert path.stat().st_size == 0  # everything is in the database: the segment was truncated
    assert len(store.records(limit=100)) == 50


def test_a_dead_processs_journal_is_replayed_exactly_once(store, tmp_path):
    directory = tmp_path / "journal"
    journal = UsageJournal(directory)
    marks = [journal.append(_record(i)) for i in range(10)]
    # The dead process had committed its first 6 entries (progress row written in the same
    # transaction) but died before it truncated its journal.
    store.add_many([_record(i) for i in range(6)], marks[:6])
    _die(journal)
    with open(_journal_files(directory)[0], "a") as fh:
        fh.write('{"s": 11, "r": {"at": 1.0, "ten')  # a line cut short mid-append
    UsageWriter(store.add_many, journal=UsageJournal(directory), forget=store.forget_journals)
    assert _tokens(store) == list(range(10))  # 0-5 once, 6-9 replayed, the cut line skipped
    assert _journal_files(directory) == [] and _progress_rows(store) == {}
    UsageWriter(store.add_many, journal=UsageJournal(directory))  # a second start: nothing left to add
    assert len(store.records(limit=100)) == 10


def test_a_live_processs_journal_is_left_alone(store, tmp_path):
    directory = tmp_path / "journal"
    live = UsageJournal(directory)
    live.append(_record(1))
    assert list(orphans(directory)) == []  # its flock is held
    UsageWriter(store.add_many, journal=UsageJournal(directory))
    assert store.records() == [] and len(_journal_files(directory)) == 1
    _die(live)
    UsageWriter(store.add_many, journal=UsageJournal(directory))
    assert _tokens(store) == [1]


def test_spooled_and_journalled_copies_of_a_record_count_once(store, tmp_path):
    """The database fails: the batch goes to the spool (with its journal marks), the journal is
    truncated; a crash, then a start with the database back replays spool and journal once."""
    directory, spool = tmp_path / "journal", tmp_path / "spool.jsonl"

    def down(records, marks=()) -> None:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    journal = UsageJournal(directory)
    writer = UsageWriter(down, spool, journal=journal, retry_delays_s=())

    async def go() -> None:
        await asyncio.gather(*(writer.write(_record(i)) for i in range(5)))
        await writer._flushing

    asyncio.run(go())
    assert spool.exists()
    # Put the spooled entries back in the journal too, as if the truncate had not happened.
    path = _journal_files(directory)[0]
    spooled = [json.loads(line) for line in spool.read_text().splitlines()]
    with open(path, "a") as fh:
        for item in spooled:
            seq = item.pop("_journal")[1]
            fh.write(json.dumps({"s": seq, "r": item}) + "\n")
    _die(journal)
    UsageWriter(store.add_many, spool, journal=UsageJournal(directory))
    assert _tokens(store) == [0, 1, 2, 3, 4]
    assert not spool.exists() and _journal_files(directory) == []


def test_a_segment_is_rotated_while_commits_lag_and_removed_once_settled(store, tmp_path):
    directory = tmp_path / "journal"
    journal = UsageJournal(directory, rotate_bytes=300)
    marks = [journal.append(_record(i)) for i in range(6)]
    assert len(_journal_files(directory)) > 1 and len({m.journal_id for m in marks}) > 1
    store.add_many([_record(i) for i in range(6)], marks)
    journal.settled(marks[-1].seq)
    [left] = _journal_files(directory)  # the current one, emptied; the older ones are gone
    assert left.stat().st_size == 0
    assert set(journal.drain_retired()) == {m.journal_id for m in marks} - {marks[-1].journal_id}


def test_without_a_journal_a_write_still_waits_for_its_commit(store):
    gate = Gate(store)
    writer = UsageWriter(gate)

    async def go() -> None:
        task = asyncio.ensure_future(writer.write(_record(1)))
        assert await asyncio.to_thread(gate.entered.wait, 5)
        assert not task.done()
        gate.open.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(go())
    assert _tokens(store) == [1]
