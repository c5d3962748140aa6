"""Layer 1's CLI plug-in: registers ``plan``, ``provision``/``deprovision`` and ``runtime``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Entry point of the ``strata.commands`` group (see :mod:`strata.cli`)."""
    from infrastructure.planner.cli import register as register_planner
    from infrastructure.provisioner.cli import register as register_provisioner
    from infrastructure.runtime.cli import register as register_runtime

    register_planner(app)
    register_provisioner(app)
    register_runtime(app)
