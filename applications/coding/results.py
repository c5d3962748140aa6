"""What a sandboxed test run measured: pytest's counts, the outcome, and the limits it ran into.

Pure functions over the captured output and exit status, so the classification is table-testable
without running anything. The outcome is what a person would call the run (``passed``,
``failed``, ``timeout``, ``memory_limit`` ...); ``limits_hit`` names what the sandbox refused
(a fork past the process limit, a socket with no network, a write to a read-only path), read from
the error messages the refused system calls produce — so a hostile test is reported as what it
tried, not only as "failed".
"""

from __future__ import annotations

import re
import signal
from dataclasses import asdict, dataclass, field
from typing import Any

# pytest's exit codes (pytest.ExitCode): 0 ok, 1 tests failed, 2 interrupted (collection errors),
# 3 internal error, 4 usage error, 5 no tests collected.
_PYTEST_OUTCOMES = {0: "passed", 1: "failed", 2: "error", 3: "error", 4: "error", 5: "no_tests"}

# The last line of `pytest -q`: "2 failed, 3 passed, 1 error in 0.12s".
_SUMMARY = re.compile(r"^=*\s*(?P<body>(?:\d+ \w+(?:, )?)+) in [\d.]+s", re.MULTILINE)
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")

# Error text of a refused system call -> what the sandbox stopped. Matched on errno strings,
# which are the kernel's words (strerror), not on any app's messages.
_LIMIT_SIGNS: tuple[tuple[str, str], ...] = (
    ("Resource temporarily unavailable", "process_limit"),
    ("BlockingIOError", "process_limit"),
    ("Network is unreachable", "network_blocked"),
    ("Temporary failure in name resolution", "network_blocked"),
    ("Connection refused", "network_blocked"),
    ("Read-only file system", "write_outside_workspace"),
    ("File too large", "file_size_limit"),
    ("No space left on device", "disk_limit"),
    ("Permission denied", "permission_denied"),
    ("MemoryError", "memory_limit"),
    ("Cannot allocate memory", "memory_limit"),
)


@dataclass
class RunCounts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0


@dataclass
class SandboxRun:
    """One command run in the sandbox, as the report shows it."""

    command: list[str]
    exit_status: int | None
    outcome: str
    counts: RunCounts
    duration_s: float
    isolation: str  # "bubblewrap" or "fallback"
    limits_hit: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def to_dict(self, *, output_chars: int = 4000) -> dict[str, Any]:
        data = asdict(self)
        data["output"] = self.output[-output_chars:]
        return data


def parse_counts(output: str) -> RunCounts:
    """The counts on pytest's last summary line (all zero when there is none)."""
    matches = list(_SUMMARY.finditer(output))
    counts = RunCounts()
    if not matches:
        return counts
    for number, kind in _COUNT.findall(matches[-1].group("body")):
        if kind.startswith("error"):
            counts.errors += int(number)
        elif kind in ("passed", "failed", "skipped"):
            setattr(counts, kind, getattr(counts, kind) + int(number))
    return counts


# A host path the run looked for and did not find: the sandbox shows only the workspace, /tmp and
# the system directories, so a missing absolute path elsewhere is one it hid.
_MISSING_PATH = re.compile(r"No such file or directory: '(/[^']*)'")
_VISIBLE_ROOTS = ("/workspace/", "/tmp/", "/usr/", "/etc/", "/proc/", "/dev/")


def limits_hit(output: str) -> list[str]:
    """What the sandbox refused, in the order of the table above, each named once."""
    found: list[str] = []
    for sign, name in _LIMIT_SIGNS:
        if sign in output and name not in found:
            found.append(name)
    if any(not p.startswith(_VISIBLE_ROOTS) for p in _MISSING_PATH.findall(output)):
        found.append("hidden_path")
    return found


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def classify(
    exit_status: int | None,
    output: str,
    *,
    timed_out: bool,
    syntax_errors: list[str],
) -> tuple[str, list[str]]:
    """The outcome of a run and notes that explain it.

    ``exit_status`` is the sandbox's: a child killed by signal N shows as -N (no sandbox) or
    128+N (bubblewrap relays it that way).
    """
    if timed_out:
        return "timeout", ["the wall-clock limit ran out; every process of the run was killed"]
    signum = -exit_status if exit_status is not None and exit_status < 0 else None
    if exit_status is not None and exit_status > 128:
        signum = exit_status - 128
    if signum == signal.SIGXCPU:
        return "timeout", ["the CPU-time limit ran out (SIGXCPU)"]
    if signum == signal.SIGXFSZ:
        return "failed", ["a write went past the file-size limit (SIGXFSZ)"]
    if signum is not None:
        return "killed", [f"the test process was killed by {_signal_name(signum)}"]
    if syntax_errors and exit_status != 0:
        return "syntax_error", [f"syntax error: {where}" for where in syntax_errors]
    outcome = _PYTEST_OUTCOMES.get(exit_status if exit_status is not None else -1, "error")
    if outcome != "passed" and ("MemoryError" in output or "Cannot allocate memory" in output):
        return "memory_limit", ["the address-space limit refused an allocation (MemoryError)"]
    return outcome, []
