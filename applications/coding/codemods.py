"""Deterministic rewrites of removed or deprecated APIs, done before any model is asked.

Each rewrite is keyed by the fully qualified name of what a call refers to (resolved through the
module's imports, so ``import datetime as dt; dt.datetime.utcnow()`` and ``from datetime import
datetime; datetime.utcnow()`` are the same call) and splices replacement text at the exact source
positions ``ast`` reports — everything else in the file, comments included, is left byte for byte.
Python's standard ``ast`` is enough for these call-shaped rewrites, so there is no new dependency.

Rewrites keep behaviour where the replacement is exact (``utcnow()`` becomes
``now(timezone.utc).replace(tzinfo=None)``: still naive, still UTC); anything without an exact
replacement is listed in ``left`` with its line, for the model or a person.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

DEPRECATED_MODULES = ("imp", "distutils")

_LOAD_SOURCE = '''

def _load_source(name, path):
    """imp.load_source's replacement, the recipe from Python 3.12's "What's New"."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
'''
_STRTOBOOL = '''

def _strtobool(value):
    """distutils.util.strtobool's replacement (1 or 0, ValueError otherwise), as it behaved."""
    value = value.lower()
    if value in ("y", "yes", "t", "true", "on", "1"):
        return 1
    if value in ("n", "no", "f", "false", "off", "0"):
        return 0
    raise ValueError(f"invalid truth value {value!r}")
'''


@dataclass
class CodemodResult:
    source: str
    applied: list[str] = field(default_factory=list)  # "line 3: datetime.datetime.utcnow -> ..."
    left: list[str] = field(default_factory=list)  # deprecated uses with no exact rewrite

    @property
    def changed(self) -> bool:
        return bool(self.applied)


@dataclass
class _Edit:
    start: int
    end: int
    text: str


class _Source:
    """Source text with ``ast`` positions (UTF-8 byte columns) mapped to string offsets."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1] if lineno <= len(self.lines) else ""
        return self.starts[lineno - 1] + len(line.encode()[:col].decode(errors="replace"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the qualified name it was imported as (module-level and nested imports)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _qualified(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _qualified(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


class _Rewriter:
    """Collects edits, imports to add and helpers to append for one module."""

    def __init__(self, src: _Source, tree: ast.Module):
        self.src, self.tree = src, tree
        self.aliases = _aliases(tree)
        self.edits: list[_Edit] = []
        self.imports: list[str] = []
        self.helpers: list[str] = []
        self.applied: list[str] = []
        self.async_calls = {
            id(n) for f in ast.walk(tree) if isinstance(f, ast.AsyncFunctionDef) for n in ast.walk(f)
        }

    def need_import(self, statement: str) -> None:
        if statement not in self.imports:
            self.imports.append(statement)

    def replace(self, node: ast.AST, text: str, what: str) -> None:
        start, end = self.src.span(node)
        if any(e.start < end and start < e.end for e in self.edits):
            return  # already inside a rewritten span (e.g. the outer run_until_complete form)
        self.edits.append(_Edit(start, end, text))
        self.applied.append(f"line {node.lineno}: {what}")

    def args(self, call: ast.Call) -> str:
        return ", ".join(self.src.segment(a) for a in [*call.args, *call.keywords])

    def utc(self) -> str:
        module = next((k for k, v in self.aliases.items() if v == "datetime"), None)
        if module:
            return f"{module}.timezone.utc"
        if self.aliases.get("timezone") != "datetime.timezone":
            self.need_import("from datetime import timezone")
        return "timezone.utc"


def _utcnow(rw: _Rewriter, call: ast.Call) -> None:
    if call.args or call.keywords:
        return
    cls = rw.src.segment(call.func.value)
    rw.replace(call, f"{cls}.now({rw.utc()}).replace(tzinfo=None)", "datetime.utcnow() -> now(timezone.utc)")


def _utcfromtimestamp(rw: _Rewriter, call: ast.Call) -> None:
    cls = rw.src.segment(call.func.value)
    rw.replace(
        call,
        f"{cls}.fromtimestamp({rw.args(call)}, {rw.utc()}).replace(tzinfo=None)",
        "datetime.utcfromtimestamp() -> fromtimestamp(..., timezone.utc)",
    )


def _get_event_loop(rw: _Rewriter, call: ast.Call) -> None:
    if id(call) in rw.async_calls:  # inside a coroutine the running loop is the one meant
        module = rw.src.segment(call.func.value) if isinstance(call.func, ast.Attribute) else "asyncio"
        if not isinstance(call.func, ast.Attribute):
            rw.need_import("import asyncio")
        rw.replace(call, f"{module}.get_running_loop()", "asyncio.get_event_loop() -> get_running_loop()")


def _run_until_complete(rw: _Rewriter, call: ast.Call, loop_call: ast.Call) -> None:
    if id(call) in rw.async_calls or len(call.args) != 1:
        return
    module = rw.src.segment(loop_call.func.value) if isinstance(loop_call.func, ast.Attribute) else None
    if module is None:
        rw.need_import("import asyncio")
    rw.replace(
        call,
        f"{module or 'asyncio'}.run({rw.args(call)})",
        "asyncio.get_event_loop().run_until_complete(x) -> asyncio.run(x)",
    )


def _simple(target: str, imports: tuple[str, ...] = (), helper: str = "", extra: str = "") -> Callable:
    def rewrite(rw: _Rewriter, call: ast.Call) -> None:
        for statement in imports:
            rw.need_import(statement)
        if helper and helper not in rw.helpers:
            rw.helpers.append(helper)
        old = _qualified(call.func, rw.aliases)
        rw.replace(call, f"{target}({rw.args(call)}{extra})", f"{old} -> {target}")

    return rewrite


CALL_REWRITES: dict[str, Callable[[_Rewriter, ast.Call], None]] = {
    "datetime.datetime.utcnow": _utcnow,
    "datetime.datetime.utcfromtimestamp": _utcfromtimestamp,
    "asyncio.get_event_loop": _get_event_loop,
    "imp.reload": _simple("importlib.reload", ("import importlib",)),
    "imp.new_module": _simple("types.ModuleType", ("import types",)),
    "imp.load_source": _simple("_load_source", ("import importlib.util", "import sys"), helper=_LOAD_SOURCE),
    "distutils.spawn.find_executable": _simple("shutil.which", ("import shutil",)),
    "distutils.util.strtobool": _simple("_strtobool", helper=_STRTOBOOL),
    "distutils.dir_util.copy_tree": _simple(
        "shutil.copytree", ("import shutil",), extra=", dirs_exist_ok=True"
    ),
    "distutils.core.setup": _simple("setuptools.setup", ("import setuptools",)),
}
# Uses that stay deprecated if nothing above rewrote them.
DEPRECATED_CALLS = (
    "datetime.datetime.utcnow",
    "datetime.datetime.utcfromtimestamp",
    "asyncio.get_event_loop",
)


def _collect(rw: _Rewriter) -> None:
    for node in ast.walk(rw.tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "run_until_complete"
            and isinstance(func.value, ast.Call)
            and _qualified(func.value.func, rw.aliases) == "asyncio.get_event_loop"
        ):
            _run_until_complete(rw, node, func.value)
            continue
        rewrite = CALL_REWRITES.get(_qualified(func, rw.aliases) or "")
        if rewrite is not None:
            rewrite(rw, node)


def _splice(text: str, edits: list[_Edit]) -> str:
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text


def _is_deprecated_module(name: str) -> bool:
    return name.split(".")[0] in DEPRECATED_MODULES


def _drop_dead_imports(text: str) -> str:
    """Remove ``import imp`` / ``from distutils... import`` statements nothing uses any more."""
    tree = ast.parse(text)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    src, edits = _Source(text), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
            bound = [a.asname or a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            bound = [a.asname or a.name for a in node.names]
        else:
            continue
        if all(map(_is_deprecated_module, modules)) and not used.intersection(bound):
            start = src.offset(node.lineno, 0)
            end = src.starts[node.end_lineno] if node.end_lineno < len(src.starts) else len(text)
            if src.text[start : src.offset(node.lineno, node.col_offset)].strip() == "":
                edits.append(_Edit(start, end, ""))
    return _splice(text, edits)


def _present(tree: ast.Module, statement: str) -> bool:
    """Whether ``import x`` / ``from m import n`` is already a top-level import (unaliased)."""
    if statement.startswith("import "):
        wanted = [(ast.Import, None, statement[7:])]
    else:
        module, name = statement[5:].split(" import ")
        wanted = [(ast.ImportFrom, module, name)]
    kind, module, name = wanted[0]
    return any(
        isinstance(node, kind)
        and getattr(node, "module", None) == module
        and any(a.name == name and not a.asname for a in node.names)
        for node in tree.body
    )


def _add_imports(text: str, imports: list[str], helpers: list[str]) -> str:
    """Insert missing imports after the module's last top-level import, helpers after those."""
    tree = ast.parse(text)
    missing = [s for s in imports if not _present(tree, s)]
    if not missing and not helpers:
        return text
    src = _Source(text)
    anchor = 0
    for index, node in enumerate(tree.body):
        is_docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if is_docstring or isinstance(node, ast.Import | ast.ImportFrom):
            anchor = node.end_lineno
    at = src.starts[anchor] if anchor < len(src.starts) else len(text)
    prefix = text[:at] if not text[:at] or text[:at].endswith("\n") else text[:at] + "\n"
    block = "".join(f"{s}\n" for s in missing) + "".join(helpers)
    if helpers and not text[at:].startswith("\n"):
        block += "\n\n"
    return prefix + block + text[at:]


def _leftovers(text: str) -> list[str]:
    tree = ast.parse(text)
    aliases, left = _aliases(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            left += [f"line {node.lineno}: import of {n}" for n in names if _is_deprecated_module(n)]
        elif isinstance(node, ast.Call):
            name = _qualified(node.func, aliases) or ""
            if _is_deprecated_module(name) or name in DEPRECATED_CALLS:
                left.append(f"line {node.lineno}: {name}()")
    return left


def rewrite_source(text: str) -> CodemodResult:
    """Rewrite one module's deprecated calls; ``left`` lists what still needs a person or a model."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        return CodemodResult(text, left=[f"line {exc.lineno}: does not parse ({exc.msg})"])
    rw = _Rewriter(_Source(text), tree)
    _collect(rw)
    if not rw.edits:
        return CodemodResult(text, left=_leftovers(text))
    new = _drop_dead_imports(_splice(text, rw.edits))
    new = _add_imports(new, rw.imports, rw.helpers)
    return CodemodResult(new, applied=sorted(set(rw.applied), key=rw.applied.index), left=_leftovers(new))
