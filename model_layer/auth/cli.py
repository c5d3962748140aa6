"""``strata keys`` and ``strata usage`` (owned by the tenancy/auth module)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
