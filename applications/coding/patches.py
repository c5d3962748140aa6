"""Structured patches from a model: SEARCH/REPLACE blocks, applied all-or-nothing if they parse.

A reply carries one or more blocks, each preceded by the file's workspace-relative path::

    calc.py
    <<<<<<< SEARCH
        return a - b
    =======
        return a + b
    >>>>>>> REPLACE

An empty SEARCH creates a file that does not exist yet. A file is deleted by its path followed by
a ``<<<<<<< DELETE`` line (a migration that retires a compatibility shim, say)::

    compat.py
    <<<<<<< DELETE

A patch is refused as a whole when a block names a path outside the workspace, when its SEARCH
text is not found exactly once, when it deletes a file that does not exist or a test file (the
tests are the judge of every change, so a patch may not remove them), or when a Python file it
touches would no longer parse — nothing is written then, and the reason goes back to the model on
its next attempt.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from applications.coding.workspace import OutsideWorkspace, Workspace
from strata.errors import StrataError

_BLOCK = re.compile(
    r"(?P<path>[^\n]*)\n(?:```[^\n]*\n)?<{5,9} SEARCH[^\n]*\n(?P<search>.*?)^={5,9}[ \t]*\n"
    r"(?P<replace>.*?)^>{5,9} REPLACE[^\n]*$",
    re.DOTALL | re.MULTILINE,
)
_DELETE = re.compile(r"^(?P<path>[^\n]*)\n(?:```[^\n]*\n)?<{5,9} DELETE[^\n]*$", re.MULTILINE)
FORMAT_HELP = (
    "Answer with SEARCH/REPLACE blocks only. Each block is the file's path relative to the "
    "workspace on its own line, then '<<<<<<< SEARCH', the exact existing lines, '=======', the "
    "new lines, and '>>>>>>> REPLACE'. An empty SEARCH creates a new file; the path followed by a "
    "'<<<<<<< DELETE' line deletes that file."
)
TEST_FILE = re.compile(r"(^|/)(test_[^/]*\.py|[^/]*_test\.py|conftest\.py)$")


class PatchError(StrataError):
    """A model reply that is not a usable patch (the message says why, for the next attempt)."""


@dataclass(frozen=True)
class Block:
    path: str
    search: str
    replace: str
    delete: bool = False


def _clean_path(line: str) -> str:
    # Models decorate the path line: "File: `calc.py`", "**calc.py**", "# calc.py".
    line = line.strip().strip("`*#: ").removeprefix("File").strip("`*#: ")
    return line


def parse_blocks(reply: str) -> list[Block]:
    """The reply's blocks in the order they appear (edits and deletions)."""
    found = [
        (m.start(), Block(_clean_path(m.group("path")), m.group("search"), m.group("replace")))
        for m in _BLOCK.finditer(reply)
    ]
    found += [(m.start(), Block(_clean_path(m.group("path")), "", "", True)) for m in _DELETE.finditer(reply)]
    blocks = [block for _, block in sorted(found, key=lambda item: item[0])]
    if not blocks:
        raise PatchError("the reply has no SEARCH/REPLACE block")
    return blocks


def _replace_once(text: str, block: Block) -> str:
    count = text.count(block.search)
    if count == 1:
        return text.replace(block.search, block.replace, 1)
    # Models often drop trailing spaces: match line by line with trailing whitespace ignored.
    lines, wanted = text.splitlines(keepends=True), block.search.splitlines()
    hits = [
        i
        for i in range(len(lines) - len(wanted) + 1)
        if [line.rstrip() for line in lines[i : i + len(wanted)]] == [w.rstrip() for w in wanted]
    ]
    if len(hits) != 1 or not wanted:
        where = "is not in" if not hits else f"occurs {max(count, len(hits))} times in"
        raise PatchError(f"the SEARCH text of a block {where} {block.path}; copy the lines exactly")
    start = hits[0]
    return "".join([*lines[:start], block.replace, *lines[start + len(wanted) :]])


def _deletion(ws: Workspace, path: str, staged: dict[str, str | None]) -> None:
    if TEST_FILE.search(path):
        raise PatchError(
            f"{path} is a test file: the tests judge every change, so a patch may not delete one"
        )
    if path in staged or not (ws.staging / path).is_file():
        raise PatchError(f"cannot delete {path}: it does not exist or another block of this patch edits it")
    staged[path] = None


def apply_patch(ws: Workspace, reply: str) -> list[str]:
    """Apply every block of ``reply`` to the staged copy, or none; returns the paths changed."""
    blocks = parse_blocks(reply)
    staged: dict[str, str | None] = {}  # None: deleted
    for block in blocks:
        path = ws.resolve(block.path)  # OutsideWorkspace for ../, /abs, links out, .git ...
        if block.delete:
            _deletion(ws, path, staged)
            continue
        if path in staged and staged[path] is None:
            raise PatchError(f"a block edits {path}, which another block deletes")
        exists = path in staged or (ws.staging / path).is_file()
        if not block.search.strip():
            if exists:
                raise PatchError(f"an empty SEARCH creates a file, but {path} exists; quote its lines")
            staged[path] = block.replace
            continue
        if not exists:
            raise PatchError(f"no such file in the workspace: {path}")
        staged[path] = _replace_once(staged.get(path) or ws.read(path), block)
    for path, text in staged.items():
        if text is not None and path.endswith(".py"):
            try:
                ast.parse(text, filename=path)
            except SyntaxError as exc:
                raise PatchError(
                    f"the patched {path} would not parse: line {exc.lineno}: {exc.msg}"
                ) from None
    for path, text in staged.items():
        if text is None:
            ws.delete(path)
        else:
            ws.write(path, text)
    return sorted(staged)


__all__ = ["FORMAT_HELP", "Block", "OutsideWorkspace", "PatchError", "apply_patch", "parse_blocks"]
