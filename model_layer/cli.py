"""Layer 2's CLI plug-in: ``serve``/``up`` (gateway), ``keys`` (credentials), ``tenants`` and ``usage``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Entry point of the ``strata.commands`` group (see :mod:`strata.cli`)."""
    from model_layer.auth.cli import register as register_auth
    from model_layer.knowledge.cli import register as register_kb
    from model_layer.server_cli import register as register_server
    from model_layer.tenancy.cli import register as register_tenancy

    register_auth(app)
    register_tenancy(app)
    register_server(app)
    register_kb(app)
