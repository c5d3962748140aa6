"""The revision watcher: overlapping reads, and a database outage seen from the poller."""

from __future__ import annotations

import logging
import threading

from model_layer.state.cache import RevisionWatcher


class Reads:
    """A revision read whose calls the test answers one by one (value, or an exception)."""

    def __init__(self, first: int):
        self.first, self.answers = first, []

    def __call__(self) -> int:
        if self.first is not None:
            value, self.first = self.first, None
            return value
        gate, value = self.answers.pop(0)
        if gate is not None:
            assert gate.wait(10), "the test did not release a read"
        if isinstance(value, Exception):
            raise value
        return value


def test_a_read_begun_before_a_local_write_does_not_put_the_old_revision_back():
    reads = Reads(first=1)
    watcher = RevisionWatcher(reads)
    released = threading.Event()
    reads.answers.append((released, 1))  # the poller's read: began before the write, answers late
    poller = threading.Thread(target=watcher.refresh)
    poller.start()
    reads.answers.append((None, 2))  # this replica revoked a key: refresh at once
    watcher.refresh()
    assert watcher.current == 2
    released.set()
    poller.join(timeout=10)
    # Otherwise the revoked key's entry, cached at revision 1, would be valid again until the next poll.
    assert watcher.current == 2


def test_an_outage_is_logged_once_not_at_every_poll(caplog):
    reads = Reads(first=1)
    watcher = RevisionWatcher(reads)
    down = ConnectionRefusedError("connection refused\nIs the server running on that host?")
    reads.answers += [(None, down)] * 5 + [(None, 3)]
    with caplog.at_level(logging.DEBUG, logger="strata.state"):
        for _ in range(6):
            watcher.refresh()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "could not read the state revision (ConnectionRefusedError: connection refused);"
        " cached keys and tenants stay in use until it can be read",
        "the state revision can be read again",
    ]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback every interval
    assert watcher.current == 3
