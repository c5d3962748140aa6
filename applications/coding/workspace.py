"""The companion's working copy of a workspace: confined paths, edits, a diff, and write-back.

Every change (a codemod, ruff's fixes, a model's patch) lands in a staging copy first; the user's
folder is written only by :meth:`Workspace.write_back`, which the commands call when the final
sandboxed run passed. Paths given by a model or a user are resolved here and refused when they
leave the workspace (absolute paths, ``..``, links pointing out, VCS and cache folders).
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from pathlib import Path

from applications.coding.sandbox import SKIPPED_DIRS, SandboxLimits, WorkspaceError, copy_workspace
from strata.errors import StrataError


class OutsideWorkspace(StrataError):
    """An edit aimed at a path outside the workspace (refused, never written)."""


class Workspace:
    """A staging copy of ``root``; use as a context manager so the copy is removed."""

    def __init__(self, root: Path, limits: SandboxLimits | None = None):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise WorkspaceError(f"no such workspace folder: {root}")
        self._scratch = tempfile.mkdtemp(prefix="strata-code-")
        self.staging = Path(self._scratch, "workspace")
        self.staging.mkdir()
        copy_workspace(self.root, self.staging, limits or SandboxLimits())
        self.original = {rel: self.staging.joinpath(rel).read_bytes() for rel in self.files()}

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def files(self, suffix: str = "") -> list[str]:
        """Workspace-relative POSIX paths of the staged files."""
        return sorted(
            p.relative_to(self.staging).as_posix()
            for p in self.staging.rglob(f"*{suffix}")
            if p.is_file() and not SKIPPED_DIRS.intersection(p.relative_to(self.staging).parts)
        )

    def resolve(self, relative: str) -> str:
        """The normalised relative path, or :class:`OutsideWorkspace` if it leaves the workspace."""
        if not relative or relative.startswith(("/", "~")) or "\\" in relative or "\0" in relative:
            raise OutsideWorkspace(f"refused: {relative!r} is not a path inside the workspace")
        target = (self.root / relative).resolve()  # follows links in the user's real folder
        try:
            rel = target.relative_to(self.root)
        except ValueError:
            raise OutsideWorkspace(f"refused: {relative!r} points outside the workspace") from None
        if not rel.parts or SKIPPED_DIRS.intersection(rel.parts):
            raise OutsideWorkspace(f"refused: {relative!r} is not a source file of the workspace")
        return rel.as_posix()

    def read(self, relative: str) -> str:
        path = self.staging / self.resolve(relative)
        if not path.is_file():
            raise WorkspaceError(f"no such file in the workspace: {relative}")
        return path.read_text(encoding="utf-8", errors="replace")

    def write(self, relative: str, text: str) -> None:
        path = self.staging / self.resolve(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def delete(self, relative: str) -> str:
        """Remove a staged file (a patch's DELETE block); the user's copy goes only on write-back."""
        rel = self.resolve(relative)
        path = self.staging / rel
        if not path.is_file():
            raise WorkspaceError(f"no such file in the workspace: {relative}")
        path.unlink()
        return rel

    def deleted(self) -> list[str]:
        return sorted(rel for rel in self.original if not self.staging.joinpath(rel).is_file())

    def changed(self) -> list[str]:
        """Files added, edited or deleted in the staged copy, sorted."""
        edited = [
            rel for rel in self.files() if self.original.get(rel) != self.staging.joinpath(rel).read_bytes()
        ]
        return sorted([*edited, *self.deleted()])

    def snapshot(self) -> dict[str, bytes]:
        return {rel: self.staging.joinpath(rel).read_bytes() for rel in self.files()}

    def restore(self, snapshot: dict[str, bytes]) -> None:
        """Put the staged copy back as it was at ``snapshot`` (a failed model attempt undone)."""
        for rel in self.files():
            if rel not in snapshot:
                self.staging.joinpath(rel).unlink()
        for rel, body in snapshot.items():
            path = self.staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)

    def diff(self) -> dict[str, str]:
        """A unified diff per changed file (``a/`` the user's version, ``b/`` the staged one)."""
        diffs = {}
        for rel in self.changed():
            old = self.original.get(rel, b"").decode("utf-8", "replace").splitlines(keepends=True)
            staged = self.staging / rel
            new = staged.read_text(encoding="utf-8", errors="replace") if staged.is_file() else ""
            after = f"b/{rel}" if staged.is_file() else "/dev/null"  # a deletion, as git shows one
            diffs[rel] = "".join(difflib.unified_diff(old, new.splitlines(keepends=True), f"a/{rel}", after))
        return diffs

    def write_back(self) -> list[str]:
        """Copy the changed files into the user's workspace, delete the deleted ones; returns both."""
        written = self.changed()
        for rel in written:
            target = self.root / self.resolve(rel)  # checked again against the user's real folder
            if not (self.staging / rel).is_file():
                target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.staging / rel, target)
        return written
