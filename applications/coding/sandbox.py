"""The sandbox: run a workspace's tests in a disposable copy, confined and bounded.

With bubblewrap (``bwrap``, Debian's ``bubblewrap``) a run gets: a copy of the workspace on a
size-limited tmpfs (the only writable place besides a private, size-limited ``/tmp``), a root
filesystem of read-only system directories plus the Python interpreter's own prefix (no ``/root``,
``/home``, ``/work`` or anything else of the host), no network (its own empty network namespace),
its own PID namespace (killing the sandbox kills everything it started), an unprivileged user
(``nobody`` when the host runs as root, so ``/etc/shadow`` stays unreadable and the process-count
limit applies — the kernel exempts root from it), rlimits (CPU seconds, address space, processes,
file size, open files, no core dumps) set with ``prlimit``, a wall-clock timeout that kills the
whole process group, and an environment built from nothing (no ``AWS_*``, tokens or the host's
``HOME``).

Without bubblewrap the fallback keeps the rlimits, the scrubbed environment, the copy and the
timeout, but the tests see the host's filesystem and network and run as the current user; every
run made that way says so in its notes.

pytest runs with plugin autoloading off: installed plugins (langsmith, schemathesis ...) start
threads or reach for the network at exit, which a network-less sandbox turns into a hang.
"""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from applications.coding.results import SandboxRun, classify, limits_hit, parse_counts
from strata.errors import StrataError

NOBODY = 65534
# Not copied into the sandbox: VCS data, virtual environments and caches are not the code.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "__pycache__",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)
SYSTEM_DIRS = ("/usr", "/etc")
WEAKER = (
    "weaker isolation: bubblewrap (bwrap) is not installed or was turned off, so the tests ran as "
    "{user} with rlimits, a scrubbed environment and a timeout, but could see the host's filesystem "
    "and network"
)


class WorkspaceError(StrataError):
    """The workspace cannot be run: missing, not a folder, or too large."""


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 120.0
    cpu_s: int = 120
    memory_bytes: int = 2 << 30
    processes: int = 64
    file_bytes: int = 64 << 20
    disk_bytes: int = 256 << 20  # each of the workspace tmpfs and /tmp
    open_files: int = 256
    output_bytes: int = 256 << 10
    workspace_bytes: int = 64 << 20
    workspace_files: int = 5000


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def copy_workspace(source: Path, target: Path, limits: SandboxLimits) -> None:
    """Copy the workspace's code (not its VCS data or caches); refuse one past the size limits."""
    if not source.is_dir():
        raise WorkspaceError(f"no such workspace folder: {source}")
    total, files = 0, 0
    for folder, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in names:
            path = Path(folder, name)
            if path.is_symlink() or not path.is_file():
                continue  # a link could point anywhere on the host: the sandbox gets no links
            files += 1
            total += path.stat().st_size
            if files > limits.workspace_files or total > limits.workspace_bytes:
                raise WorkspaceError(
                    f"the workspace {source} is too large to test: more than {limits.workspace_files} files "
                    f"or {limits.workspace_bytes >> 20} MiB (VCS data, virtualenvs and caches don't count)"
                )
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    # The sandbox user (nobody) must read the copy; it is ours, so opening it up leaks nothing.
    for folder, _dirs, names in os.walk(target):
        os.chmod(folder, 0o755)
        for name in names:
            os.chmod(Path(folder, name), 0o644)


def syntax_errors(root: Path) -> list[str]:
    """``path:line: message`` for every Python file that does not parse (compiling runs nothing)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if SKIPPED_DIRS.intersection(path.relative_to(root).parts):
            continue
        try:
            ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None) or 0
            found.append(f"{path.relative_to(root)}:{line}: {getattr(exc, 'msg', str(exc))}")
    return found


def _python_dirs(python: str) -> list[str]:
    """The folders the interpreter needs: its venv and the base installation it links to."""
    dirs = {sys.prefix, sys.base_prefix, str(Path(python).resolve().parent.parent)}
    return sorted(d for d in dirs if not any(d != o and d.startswith(o + "/") for o in dirs))


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def bwrap_argv(
    bwrap: str, source: Path, python: str, limits: SandboxLimits, command: Sequence[str]
) -> list[str]:
    """The bubblewrap command line: the confinement described in the module docstring."""
    argv = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
    for system_dir in SYSTEM_DIRS:
        argv += ["--ro-bind", system_dir, system_dir]
    for link in ("bin", "sbin", "lib", "lib64", "lib32"):
        if Path("/", link).is_symlink():
            argv += ["--symlink", os.readlink(Path("/", link)), f"/{link}"]
        elif Path("/", link).is_dir():
            argv += ["--ro-bind", f"/{link}", f"/{link}"]
    # /tmp first: a Python prefix under /tmp (a venv in a checkout there, as CI clones may be) is
    # bound on top of the private tmpfs, not hidden by it.
    argv += ["--perms", "01777", "--size", str(limits.disk_bytes), "--tmpfs", "/tmp"]
    made: set[str] = {"/tmp"}
    for folder in _python_dirs(python):
        for parent in _ancestors(folder + "/x"):
            if parent not in made and not parent.startswith(SYSTEM_DIRS):
                argv += ["--perms", "0755", "--dir", parent]  # bwrap makes 0700 dirs otherwise
                made.add(parent)
        if not folder.startswith(SYSTEM_DIRS):
            argv += ["--ro-bind", folder, folder]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "0777", "--size", str(limits.disk_bytes), "--tmpfs", "/workspace"]
    argv += ["--ro-bind", str(source), "/source", "--chdir", "/workspace"]
    inner = ["sh", "-c", 'cp -R /source/. /workspace/ && exec "$@"', "sandbox", *command]
    if os.geteuid() == 0:
        # Root in the sandbox would read root-owned files and ignore RLIMIT_NPROC: drop to nobody.
        argv += ["--cap-add", "CAP_SETUID,CAP_SETGID"]
        inner = [
            "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", *inner,
        ]  # fmt: skip
    return [*argv, *inner]


def prlimit_argv(limits: SandboxLimits) -> list[str]:
    return [
        "prlimit",
        f"--cpu={limits.cpu_s}:{limits.cpu_s + 2}",  # SIGXCPU (named) before SIGKILL
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def scrubbed_env(home: str, tmp: str, python: str) -> dict[str, str]:
    """An environment built from nothing: no host variable (credentials, tokens) gets through."""
    return {
        "PATH": f"{Path(python).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


class _TailReader(threading.Thread):
    """Drains a pipe, keeping only the last ``cap`` bytes (a test printing forever fills nothing)."""

    def __init__(self, pipe, cap: int):
        super().__init__(daemon=True)
        self.pipe, self.cap = pipe, cap
        self.chunks: deque[bytes] = deque()
        self.kept = self.dropped = 0

    def run(self) -> None:
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            self.chunks.append(chunk)
            self.kept += len(chunk)
            while self.kept > self.cap and len(self.chunks) > 1:
                self.kept -= len(old := self.chunks.popleft())
                self.dropped += len(old)

    def text(self) -> str:
        body = b"".join(self.chunks).decode("utf-8", "replace")
        return f"[{self.dropped} bytes of output dropped]\n{body}" if self.dropped else body


def _execute(
    argv: list[str], env: dict[str, str], cwd: str, limits: SandboxLimits
) -> tuple[int | None, str, bool]:
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    reader = _TailReader(proc.stdout, limits.output_bytes)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=limits.wall_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: this reaches every descendant
        proc.wait()
    reader.join(timeout=5)  # a fallback-mode escapee may hold the pipe open: don't wait on it
    proc.stdout.close()
    return proc.returncode, reader.text(), timed_out


class Sandbox:
    """Runs commands (by default the workspace's pytest suite) in a confined copy."""

    def __init__(
        self, limits: SandboxLimits | None = None, *, python: str | None = None, use_bwrap: bool = True
    ):
        self.limits = limits or SandboxLimits()
        self.python = python or sys.executable
        self.bwrap = bwrap_path() if use_bwrap else None

    @property
    def isolation(self) -> str:
        return "bubblewrap" if self.bwrap else "fallback"

    def pytest_command(self, args: Sequence[str] = ()) -> list[str]:
        return [self.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no", *args]

    def run_tests(self, workspace: Path, args: Sequence[str] = ()) -> SandboxRun:
        return self.run(workspace, self.pytest_command(args))

    def run(self, workspace: Path, command: Sequence[str]) -> SandboxRun:
        """Copy ``workspace``, run ``command`` in the copy, and say what happened."""
        with tempfile.TemporaryDirectory(prefix="strata-sandbox-") as scratch:
            source = Path(scratch, "workspace")
            source.mkdir()
            copy_workspace(Path(workspace), source, self.limits)
            broken = syntax_errors(source)
            os.chmod(scratch, 0o755)
            started = time.monotonic()
            if self.bwrap:
                argv = bwrap_argv(self.bwrap, source, self.python, self.limits, command)
                env, cwd, notes = scrubbed_env("/tmp", "/tmp", self.python), scratch, []
            else:
                argv, cwd = list(command), str(source)
                for sub in ("home", "tmp"):
                    Path(scratch, sub).mkdir()
                env = scrubbed_env(f"{scratch}/home", f"{scratch}/tmp", self.python)
                notes = [WEAKER.format(user=_user())]
            status, output, timed_out = _execute(prlimit_argv(self.limits) + argv, env, cwd, self.limits)
            duration = time.monotonic() - started
        outcome, why = classify(status, output, timed_out=timed_out, syntax_errors=broken)
        if output.startswith(("bwrap:", "setpriv:", "prlimit:")):
            outcome, why = "sandbox_error", [f"the sandbox could not start: {output.splitlines()[0]}"]
        return SandboxRun(
            command=list(command),
            exit_status=status,
            outcome=outcome,
            counts=parse_counts(output),
            duration_s=round(duration, 3),
            isolation=self.isolation,
            limits_hit=limits_hit(output),
            notes=[*notes, *why],
            output=output,
        )


def _user() -> str:
    return "root" if os.geteuid() == 0 else str(os.geteuid())
