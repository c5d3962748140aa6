"""Where strata keeps local state (``STRATA_HOME``, default ``~/.strata``) and how it stays private.

The home holds secrets (``strata.db``, ``keystore.key``) and usage records, so it is mode 0700 and
its state files 0600 — SQLite's ``-wal``/``-shm`` files too: SQLite gives them the mode of the
database file, so creating that file 0600 before SQLite opens it is what makes them private.

Reading never creates a file and never changes a mode, so a populated read-only home (a mounted
backup, a read-only container layer) still serves ``keys list`` and ``usage`` (the state store,
:mod:`model_layer.state.database`, opens its SQLite file read-only there). Commands that
write ask for :func:`writable_home` first: it fails with one clear line when the home cannot be
written, and tightens a home or state files an older version left 0755/0644 (only what the user
owns). Every problem with the directory is a :class:`HomeError` naming the path and what to do.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from strata.errors import ConfigurationError

HOME_ENV = "STRATA_HOME"
# Files a home holds secrets or usage in (SQLite databases with their journals, sealing keys).
STATE_FILE_PATTERNS = ("*.db", "*.db-wal", "*.db-shm", "*.db-journal", "*.key")
_WHAT_TO_DO = f"set {HOME_ENV} to a directory you can write, or fix its permissions"


class HomeError(ConfigurationError):
    """The state directory (or a file in it) cannot be created, read or written."""


def home_path() -> Path:
    """The configured state directory; nothing is created or checked."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".strata").expanduser()


def strata_home() -> Path:
    """The state directory, created (mode 0700) if it does not exist yet."""
    return ensure_dir(home_path())


def ensure_dir(path: Path) -> Path:
    """``path`` as an existing directory, created 0700 when missing; an existing one is left as is."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise HomeError(
            f"cannot create the state directory {path}: {_reason(exc)}", hint=_WHAT_TO_DO
        ) from None
    return path


def writable_home(path: Path) -> Path:
    """``path`` ready for writing: created, checked writable, and tightened to 0700/0600."""
    ensure_dir(path)
    if not is_writable(path):
        why = "read-only file system" if _read_only_fs(path) else "permission denied"
        raise HomeError(f"cannot write to the state directory {path}: {why}", hint=_WHAT_TO_DO)
    state_files = [p for pattern in STATE_FILE_PATTERNS for p in path.glob(pattern)]
    for file in state_files:
        if file.is_file() and not os.access(file, os.W_OK):
            raise HomeError(f"cannot write to {file}: permission denied", hint=_WHAT_TO_DO)
    for item in (path, *state_files):
        _tighten(item)
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (``O_EXCL``: never truncates or widens)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def is_writable(directory: Path) -> bool:
    # access(2) answers for the effective user and reports a read-only mount even to root.
    return os.access(directory, os.W_OK | os.X_OK)


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _tighten(path: Path) -> None:
    """Drop group/other bits from a directory or regular file the user owns (never via a symlink)."""
    try:
        st = path.lstat()
    except OSError:
        return
    if st.st_uid != os.geteuid() or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        return
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        # Best effort: some filesystems (vfat, some network mounts) refuse chmod; writing still works.
        with contextlib.suppress(OSError):
            os.chmod(path, mode & ~0o077)


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return "a file is in the way"
    return (exc.strerror or type(exc).__name__).lower()
