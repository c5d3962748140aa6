"""An unwritable, read-only or impossible STRATA_HOME: one line from the console script, no traceback.

Each case uses a mechanism that really refuses writes, also to root (which ignores mode bits):
a read-only bind mount in a private mount namespace (``unshare``), a directory owned by another
user with the command run as ``nobody`` (``setpriv``, when the tests run as root; plain mode bits
otherwise), and a path under a regular file (ENOTDIR). A populated read-only home must still
answer ``keys list`` and ``usage``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_layer.auth.keystore import KeyStore
from model_layer.settings import GatewaySettings
from model_layer.state import UsageRecord
from tests.strata.test_console_script import assert_one_line_error

STRATA = str(Path(sys.executable).with_name("strata"))
WRITES = [["keys", "create", "--tenant", "acme"], ["up", "--port", "1"]]  # `up` fails before binding
READS = [["keys", "list", "--json"], ["usage", "--json"]]
# Remount the home read-only in a private mount namespace, then run strata there.
_READ_ONLY_SH = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && shift && exec "$@"'


def _run(prefix: list[str], args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "STRATA_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([*prefix, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def read_only_prefix() -> list[str]:
    """A command prefix that runs a program with a given directory mounted read-only, or skip."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare(1) is not available")
    with tempfile.TemporaryDirectory() as probe:
        prefix = [unshare, "-rm", "sh", "-c", _READ_ONLY_SH]
        proc = subprocess.run([*prefix, probe, "_", "touch", f"{probe}/x"], capture_output=True, timeout=30)
        if "Read-only file system" not in proc.stderr.decode():
            pytest.skip(f"no read-only bind mounts here: {proc.stderr.decode().strip()}")
    return prefix


def _populate(home: Path) -> str:
    """A home as a gateway leaves it: a key set and one usage record, databases cleanly closed."""
    store = KeyStore.open(GatewaySettings(home=home))
    key_id = store.create_keys("acme").access_key_id
    record = UsageRecord(1.0e9, "acme", key_id, "m.x-v1:0", "Converse", 3, 4, 0, 0, 0.0, 5, "complete")
    store.state.usage.add(record)
    store.close()
    return key_id


def test_a_populated_read_only_home_serves_reads_and_refuses_writes(tmp_path, read_only_prefix):
    home = tmp_path / "home"
    key_id = _populate(home)
    before = sorted((p.name, p.stat().st_mode) for p in home.iterdir())

    def run(args: list[str]) -> subprocess.CompletedProcess:
        return _run([*read_only_prefix, str(home), "_"], [STRATA, *args], home)

    listed = run(READS[0])
    assert listed.returncode == 0, listed.stderr
    assert [k["access_key_id"] for k in json.loads(listed.stdout)] == [key_id]
    used = run(READS[1])
    assert used.returncode == 0, used.stderr
    assert [(r["tenant_id"], r["output_tokens"]) for r in json.loads(used.stdout)] == [("acme", 4)]
    for args in WRITES:
        assert_one_line_error(run(args), f"state directory {home}", "read-only file system", "STRATA_HOME")
    assert sorted((p.name, p.stat().st_mode) for p in home.iterdir()) == before


@pytest.fixture
def other_users_home() -> Iterator[tuple[list[str], Path]]:
    """An empty home this user cannot write: as root, run as ``nobody``; else drop the write bits."""
    base = Path(tempfile.mkdtemp(prefix="strata-home-"))
    base.chmod(0o755)  # nobody must be able to reach it
    home = base / "home"
    home.mkdir(mode=0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            shutil.rmtree(base)
            pytest.skip("setpriv(1) is not available to drop root")
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    else:
        home.chmod(0o555)
    try:
        yield prefix, home
    finally:
        home.chmod(0o755)
        shutil.rmtree(base)


def test_an_unwritable_home_refuses_writes_and_reads_empty(other_users_home):
    prefix, home = other_users_home
    for args in WRITES:
        proc = _run(prefix, [STRATA, *args], home)
        assert_one_line_error(proc, f"state directory {home}", "permission denied", "STRATA_HOME")
    for args in READS:
        proc = _run(prefix, [STRATA, *args], home)
        assert proc.returncode == 0 and json.loads(proc.stdout) == [], proc.stderr
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("args", WRITES + READS, ids=lambda a: " ".join(a[:2]))
def test_a_home_that_cannot_be_created_is_one_line(tmp_path, args):
    (tmp_path / "file").write_text("")
    home = tmp_path / "file" / "home"
    proc = _run([], [STRATA, *args], home)
    assert_one_line_error(proc, f"cannot create the state directory {home}", "STRATA_HOME")
    assert proc.returncode == 1
