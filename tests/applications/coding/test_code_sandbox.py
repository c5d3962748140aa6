"""The sandbox against hostile test code: each snippet is contained and reported as what it was.

Every test runs real bubblewrap (skipped, saying why, where it is not installed) on a workspace
whose tests are the hostile snippet, with limits small enough that each run ends in seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest

from applications.coding.sandbox import Sandbox, SandboxLimits, WorkspaceError, bwrap_argv

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
FAST = SandboxLimits(wall_s=20, cpu_s=10, memory_bytes=1 << 30, processes=32, disk_bytes=16 << 20)


def workspace(root: Path, **files: str) -> Path:
    for name, body in files.items():
        path = root / (name if "." in name else f"{name}.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
    return root


@needs_bwrap
def test_passing_and_failing_tests_are_counted(tmp_path):
    ws = workspace(
        tmp_path,
        **{"calc.py": "def add(a, b):\n    return a - b\n"},
        test_calc="""
            from calc import add
            def test_zero(): assert add(0, 0) == 0
            def test_add(): assert add(2, 3) == 5
        """,
    )
    run = Sandbox(FAST).run_tests(ws)
    assert (run.outcome, run.counts.passed, run.counts.failed) == ("failed", 1, 1)
    assert run.isolation == "bubblewrap" and run.notes == []
    (ws / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    assert Sandbox(FAST).run_tests(ws).outcome == "passed"


@needs_bwrap
def test_fork_bomb_hits_the_process_limit(tmp_path):
    ws = workspace(
        tmp_path,
        test_bomb="""
            import os, time
            def test_bomb():
                while True:
                    if os.fork() == 0:
                        time.sleep(600)  # children linger: only the PID namespace ends them
                        os._exit(0)
        """,
    )
    run = Sandbox(FAST).run_tests(ws)
    assert run.outcome == "failed"
    assert "process_limit" in run.limits_hit
    assert run.duration_s < FAST.wall_s  # the lingering children did not keep the run alive


@needs_bwrap
def test_secrets_are_out_of_reach(tmp_path, monkeypatch):
    # A fake home outside /tmp (the sandbox's /tmp is private anyway) holding AWS credentials.
    home = Path(tempfile.mkdtemp(prefix="strata-fake-home-", dir="/var/tmp"))
    try:
        (home / ".aws").mkdir()
        (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = HOSTSECRET1\n")
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "HOSTSECRET2")
        monkeypatch.setenv("GITHUB_TOKEN", "HOSTSECRET3")
        ws = workspace(
            tmp_path,
            test_steal=f"""
                import os
                def test_credentials_file(): print(open({str(home / ".aws" / "credentials")!r}).read())
                def test_home_credentials(): print(open(os.path.expanduser("~/.aws/credentials")).read())
                def test_shadow(): print(open("/etc/shadow").read())
                def test_environment():
                    print(dict(os.environ))
                    assert os.environ["HOME"] == "/tmp"
                    assert not [k for k in os.environ if k.startswith("AWS_") or "TOKEN" in k]
            """,
        )
        assert (home / ".aws" / "credentials").read_text()  # readable on the host, not inside
        run = Sandbox(FAST).run_tests(ws)
    finally:
        shutil.rmtree(home)
    assert (run.outcome, run.counts.failed, run.counts.passed) == ("failed", 3, 1)
    assert "HOSTSECRET" not in run.output
    assert {"hidden_path", "permission_denied"} <= set(run.limits_hit)


@needs_bwrap
def test_sockets_reach_nothing(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept())
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    ws = workspace(
        tmp_path,
        test_net=f"""
            import socket
            def test_host_loopback(): socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"x")
            def test_outside(): socket.create_connection(("10.1.2.3", 443), timeout=2)
            def test_dns(): socket.getaddrinfo("pypi.org", 443)
        """,
    )
    try:
        run = Sandbox(FAST).run_tests(ws)
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert accepted == []
    assert (run.outcome, run.counts.failed) == ("failed", 3)
    assert "network_blocked" in run.limits_hit


@needs_bwrap
def test_filling_the_disk_stops_at_the_limits(tmp_path):
    ws = workspace(
        tmp_path,
        test_fill="""
            def test_one_huge_file():
                with open("huge.bin", "wb") as f:
                    for _ in range(1024):
                        f.write(b"x" * (1 << 20))
            def test_many_files():
                for i in range(64):
                    with open(f"part{i}.bin", "wb") as f:
                        f.write(b"x" * (3 << 20))
        """,
    )
    limits = SandboxLimits(wall_s=20, cpu_s=10, memory_bytes=1 << 30, file_bytes=4 << 20, disk_bytes=16 << 20)
    run = Sandbox(limits).run_tests(ws)
    assert (run.outcome, run.counts.failed) == ("failed", 2)
    assert {"file_size_limit", "disk_limit"} <= set(run.limits_hit)
    assert sorted(p.name for p in ws.iterdir()) == ["test_fill.py"]  # the host workspace is untouched


@needs_bwrap
def test_writes_outside_the_workspace_are_refused(tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    ws = workspace(
        tmp_path,
        test_escape=f"""
            def test_system(): open("/usr/escaped.txt", "w").write("x")
            def test_host_path(): open({str(outside)!r}, "w").write("x")
            def test_parent(): open("../escaped.txt", "w").write("x")
            def test_workspace_is_writable(): open("scratch.txt", "w").write("x")
        """,
    )
    run = Sandbox(FAST).run_tests(ws)
    assert (run.outcome, run.counts.failed, run.counts.passed) == ("failed", 3, 1)
    assert "write_outside_workspace" in run.limits_hit
    assert not outside.exists() and not Path("/usr/escaped.txt").exists()
    assert not (ws / "scratch.txt").exists()


@needs_bwrap
def test_sleeping_forever_times_out(tmp_path):
    ws = workspace(tmp_path, test_sleep="import time\ndef test_sleep(): time.sleep(10**6)\n")
    run = Sandbox(SandboxLimits(wall_s=3)).run_tests(ws)
    assert run.outcome == "timeout"
    assert run.duration_s < 3 + 5  # killed at the limit, with slack for a loaded machine


@needs_bwrap
def test_cpu_and_memory_limits_are_named(tmp_path):
    spin = workspace(tmp_path / "spin", test_spin="def test_spin():\n    while True: pass\n")
    run = Sandbox(SandboxLimits(wall_s=30, cpu_s=1)).run_tests(spin)
    assert run.outcome == "timeout" and "SIGXCPU" in run.notes[0]
    hog = workspace(tmp_path / "hog", test_hog="def test_hog(): bytearray(4 << 30)\n")
    run = Sandbox(SandboxLimits(wall_s=30, memory_bytes=1 << 30)).run_tests(hog)
    assert run.outcome == "memory_limit" and "memory_limit" in run.limits_hit


@needs_bwrap
def test_syntax_errors_and_missing_tests_are_told_apart(tmp_path):
    broken = workspace(
        tmp_path / "broken",
        **{"lib.py": "def f(:\n    pass\n"},
        test_lib="import lib\ndef test_f(): lib.f()\n",
    )
    run = Sandbox(FAST).run_tests(broken)
    assert run.outcome == "syntax_error"
    assert run.notes == ["syntax error: lib.py:1: invalid syntax"]
    empty = workspace(tmp_path / "empty", **{"lib.py": "X = 1\n"})
    assert Sandbox(FAST).run_tests(empty).outcome == "no_tests"


def test_a_workspace_too_large_or_missing_is_refused(tmp_path):
    ws = workspace(tmp_path / "big", **{f"m{i}.py": "X = 1\n" for i in range(5)})
    with pytest.raises(WorkspaceError, match="too large"):
        Sandbox(SandboxLimits(workspace_files=3)).run_tests(ws)
    with pytest.raises(WorkspaceError, match="no such workspace"):
        Sandbox().run_tests(tmp_path / "nowhere")


def test_the_fallback_says_it_is_weaker(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "HOSTSECRET")
    ws = workspace(
        tmp_path,
        test_env="import os\ndef test_env(): assert 'AWS_SECRET_ACCESS_KEY' not in os.environ\n",
    )
    run = Sandbox(FAST, use_bwrap=False).run_tests(ws)
    assert (run.outcome, run.isolation) == ("passed", "fallback")
    assert run.notes and run.notes[0].startswith("weaker isolation")
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "HOSTSECRET"


def test_a_python_prefix_under_tmp_is_bound_over_the_private_tmp():
    # CI may clone the repo, and so its .venv, under /tmp: the sandbox's own /tmp tmpfs must not hide it.
    argv = bwrap_argv("bwrap", Path("/src"), "/tmp/ci/.venv/bin/python", FAST, ["pytest"])
    mounts = [(argv[i], argv[i + 1]) for i in range(len(argv) - 1)]
    tmpfs = mounts.index(("--tmpfs", "/tmp"))
    bind = mounts.index(("--ro-bind", "/tmp/ci/.venv"))
    assert tmpfs < bind
