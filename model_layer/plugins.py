"""The plug-in seam: entry-point groups through which backends register, as simonw/llm's hooks do.

Three things grow by plug-ins: model providers (``strata.providers``), guardrail policies
(``strata.guardrail_policies``) and vector stores (``strata.vector_stores``). A package registers
one by naming an object in its ``pyproject.toml``::

    [project.entry-points."strata.providers"]
    ollama = "strata_ollama:PLUGIN"

The built-in ones are registered the same way, in strata's own ``pyproject.toml``, so adding one
never edits core modules; the configuration schema is built from what is registered.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import Any

from strata.errors import ConfigurationError

PROVIDERS = "strata.providers"
GUARDRAIL_POLICIES = "strata.guardrail_policies"
VECTOR_STORES = "strata.vector_stores"


@functools.cache
def load(group: str) -> dict[str, Any]:
    """``{name: object}`` of every plug-in registered in ``group`` (loaded once, sorted by name)."""
    found: dict[str, Any] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # a broken third-party plug-in must say which one it is
            raise ConfigurationError(
                f"plug-in {ep.name!r} ({ep.value}) in {group} failed to load: {type(exc).__name__}: {exc}",
                hint="reinstall or remove the package that registers it",
            ) from exc
    return found
