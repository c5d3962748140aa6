"""What a server process spends, seen from outside: CPU seconds of its process tree, py-spy samples.

Used by ``gateway_bench``: :func:`tree_cpu_s` before and after a load phase gives a server's CPU
per request; :class:`Profile` records the gateway with py-spy while a load runs and
:func:`hot_spots` turns py-spy's raw (collapsed-stack) output into self/total tables.
Linux only (``/proc``); py-spy is optional (``pip install py-spy``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[bytes]:
    """``/proc/<pid>/stat`` fields after ``(comm)`` (field 3, the state, is index 0)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


def process_tree(root: int) -> set[int]:
    """``root`` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat(entry)[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):  # exited while we looked
                continue
    tree, frontier = {root}, [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in tree:
                tree.add(child)
                frontier.append(child)
    return tree


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system, all threads) used so far by ``root`` and its descendants.

    Includes the time of children they have reaped (cutime/cstime), so a worker that exits
    during a phase still counts; resolution is one clock tick (usually 10 ms).
    """
    ticks = 0
    for pid in process_tree(root):
        try:
            ticks += sum(int(x) for x in _stat(pid)[11:15])  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            continue
    return ticks / CLOCK_TICKS


def py_spy() -> str | None:
    """The py-spy executable next to this interpreter, else on PATH, else None."""
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Profile:
    """``with Profile(pid, out):`` samples ``pid`` (and its subprocesses) with py-spy while inside.

    ``--nonblocking`` so the target is never paused (its timings stay honest); ``--format raw``
    (collapsed stacks, one ``frame;frame;… count`` line each) so :func:`hot_spots` can read it.
    """

    def __init__(self, pid: int, out: Path, rate: int = 100):
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy not found: .venv/bin/pip install py-spy")
        self.cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking",
                    "--subprocesses", "--format", "raw", "-o", str(out)]  # fmt: skip
        self.out = out

    def __enter__(self) -> Profile:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            self.log = self.proc.communicate(timeout=60)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.log = self.proc.communicate()[0].decode(errors="replace")


_LINE = re.compile(r":\d+\)$")


def _frame(raw: str, root: Path) -> str:
    """``func (path:line)`` → ``path:func``, the path relative to site-packages or the repo."""
    name, _, where = raw.rpartition(" (")
    path = _LINE.sub("", where).rstrip(")")
    for marker in ("site-packages/", str(root) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = re.sub(r"^.*/lib/python3\.\d+/", "stdlib/", path)
    return f"{path}:{name or raw}"


def _package(frame: str) -> str:
    path = frame.rsplit(":", 1)[0]
    if path.startswith("stdlib/"):
        return "stdlib/" + path.split("/")[1].removesuffix(".py")
    first = path.split("/")[0].removesuffix(".py")
    return "/".join(path.split("/")[:2]) if first in ("model_layer", "strata") else first


def _main_stack(stacks: list[tuple[list[str], int]]) -> set[str]:
    """Frames every complete sample shares (``main`` … ``Runner.run``): the longest common prefix
    of the stacks that start like most do (``--nonblocking`` leaves some stacks cut short)."""
    roots = Counter[str]()
    for frames, n in stacks:
        roots[frames[0]] += n
    if not roots:
        return set()
    root = roots.most_common(1)[0][0]
    prefix: list[str] | None = None
    for frames, _ in stacks:
        if frames[0] != root:
            continue
        if prefix is None:
            prefix = frames
        else:
            k = 0
            while k < min(len(prefix), len(frames)) and prefix[k] == frames[k]:
                k += 1
            prefix = prefix[:k]
    return set(prefix or [])


def hot_spots(raw: Path, root: Path, top: int = 15, ours: tuple[str, ...] = ()) -> dict:
    """Self and total sample shares per function, and self share per package, from py-spy raw.

    The main stack's frames (:func:`_main_stack`, on every sample) are left out of the total table;
    ``partial`` is the share of samples whose stack py-spy read only in part; ``ours`` is the
    total table for frames whose path starts with one of ``ours`` (the project's own code).
    """
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f, root) for f in stack.split(";") if " (" in f]
        if frames and count.isdigit():
            stacks.append((frames, int(count)))
    scaffold = _main_stack(stacks)
    self_count: Counter[str] = Counter()
    total_count: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = partial = 0
    for frames, n in stacks:
        samples += n
        self_count[frames[-1]] += n
        packages[_package(frames[-1])] += n
        if scaffold and not scaffold <= set(frames):
            partial += n
        for frame in set(frames) - scaffold:
            total_count[frame] += n

    def share(counter: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, 100 * n / samples) for name, n in counter.most_common(k)] if samples else []

    return {
        "samples": samples,
        "partial_pct": 100 * partial / samples if samples else 0.0,
        "self": share(self_count, top),
        "total": share(total_count, top),
        "packages": share(packages, top),
        "ours": share(Counter({f: n for f, n in total_count.items() if f.startswith(ours)}), top)
        if ours
        else [],
    }
