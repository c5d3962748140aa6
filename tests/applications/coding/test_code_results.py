"""pytest's summary and exit status -> counts, outcome and the limits a run hit (pure functions)."""

from __future__ import annotations

import pytest

from applications.coding.results import classify, limits_hit, parse_counts


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("..F\n1 failed, 2 passed in 0.09s\n", (2, 1, 0, 0)),
        ("==== 3 passed, 1 skipped, 2 errors in 1.20s ====\n", (3, 0, 2, 1)),
        ("E\n1 error in 0.01s\n", (0, 0, 1, 0)),
        ("no tests ran in 0.01s\n", (0, 0, 0, 0)),
        ("", (0, 0, 0, 0)),
    ],
)
def test_counts_come_from_the_last_summary_line(output, expected):
    counts = parse_counts(output)
    assert (counts.passed, counts.failed, counts.errors, counts.skipped) == expected


@pytest.mark.parametrize(
    ("status", "output", "timed_out", "broken", "outcome"),
    [
        (0, "1 passed in 0.1s", False, [], "passed"),
        (1, "1 failed in 0.1s", False, [], "failed"),
        (2, "1 error in 0.1s", False, [], "error"),
        (5, "no tests ran", False, [], "no_tests"),
        (None, "", True, [], "timeout"),
        (128 + 24, "", False, [], "timeout"),  # SIGXCPU relayed by bubblewrap
        (-9, "", False, [], "killed"),
        (137, "", False, [], "killed"),
        (2, "1 error", False, ["m.py:1: invalid syntax"], "syntax_error"),
        (1, "E   MemoryError\n1 failed", False, [], "memory_limit"),
    ],
)
def test_outcomes(status, output, timed_out, broken, outcome):
    assert classify(status, output, timed_out=timed_out, syntax_errors=broken)[0] == outcome


def test_limits_are_named_from_the_kernels_error_text():
    output = (
        "BlockingIOError: [Errno 11] Resource temporarily unavailable\n"
        "OSError: [Errno 30] Read-only file system: '/usr/x'\n"
        "FileNotFoundError: [Errno 2] No such file or directory: '/root/.aws/credentials'\n"
        "FileNotFoundError: [Errno 2] No such file or directory: '/workspace/data.csv'\n"
    )
    assert limits_hit(output) == ["process_limit", "write_outside_workspace", "hidden_path"]
    assert limits_hit("FileNotFoundError: No such file or directory: '/workspace/x'") == []
