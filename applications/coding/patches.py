"""Structured patches from a model: SEARCH/REPLACE blocks, applied all-or-nothing if they parse.

A reply carries one or more blocks, each preceded by the file's workspace-relative path::

    calc.py
    <<<<<<< SEARCH
        return a - b
    =======
        return a + b
    >>>>>>> REPLACE

An empty SEARCH creates a file that does not exist yet. A patch is refused as a whole when a block
names a path outside the workspace, when its SEARCH text is not found exactly once, or when a
Python file it touches would no longer parse — nothing is written then, and the reason goes back
to the model on its next attempt.
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
FORMAT_HELP = (
    "Answer with SEARCH/REPLACE blocks only. Each block is the file's path relative to the "
    "workspace on its own line, then '<<<<<<< SEARCH', the exact existing lines, '=======', the "
    "new lines, and '>>>>>>> REPLACE'. An empty SEARCH creates a new file."
)


class PatchError(StrataError):
    """A model reply that is not a usable patch (the message says why, for the next attempt)."""


@dataclass(frozen=True)
class Block:
    path: str
    search: str
    replace: str


def _clean_path(line: str) -> str:
    # Models decorate the path line: "File: `calc.py`", "**calc.py**", "# calc.py".
    line = line.strip().strip("`*#: ").removeprefix("File").strip("`*#: ")
    return line


def parse_blocks(reply: str) -> list[Block]:
    blocks = [
        Block(_clean_path(m.group("path")), m.group("search"), m.group("replace"))
        for m in _BLOCK.finditer(reply)
    ]
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


def apply_patch(ws: Workspace, reply: str) -> list[str]:
    """Apply every block of ``reply`` to the staged copy, or none; returns the paths changed."""
    blocks = parse_blocks(reply)
    staged: dict[str, str] = {}
    for block in blocks:
        path = ws.resolve(block.path)  # OutsideWorkspace for ../, /abs, links out, .git ...
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
        if path.endswith(".py"):
            try:
                ast.parse(text, filename=path)
            except SyntaxError as exc:
                raise PatchError(
                    f"the patched {path} would not parse: line {exc.lineno}: {exc.msg}"
                ) from None
    for path, text in staged.items():
        ws.write(path, text)
    return sorted(staged)


__all__ = ["FORMAT_HELP", "Block", "OutsideWorkspace", "PatchError", "apply_patch", "parse_blocks"]
