"""Layer 2's CLI plug-in: ``serve``/``up`` (gateway), ``keys`` and ``usage`` (tenancy)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Entry point of the ``strata.commands`` group (see :mod:`strata.cli`)."""
    from model_layer.auth.cli import register as register_auth
    from model_layer.server_cli import register as register_server

    register_auth(app)
    register_server(app)
