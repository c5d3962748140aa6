"""``strata serve`` (and ``strata up``): run the gateway."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
