"""The ``strata`` command: a thin root that each layer extends through entry points.

A layer declares ``[project.entry-points."strata.commands"] name = "pkg.cli:register"``;
``register(app)`` adds its commands or sub-apps to the root Typer app. The root imports no
layer, so the layering stays intact (checked by import-linter).
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer
from rich.console import Console

from strata import __version__
from strata.errors import StrataError

ENTRY_POINT_GROUP = "strata.commands"

err_console = Console(stderr=True, highlight=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"strata {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """Create the root app and let every installed layer register its commands."""
    app = typer.Typer(
        name="strata",
        help="strata: compute, a Bedrock-compatible model gateway, and apps — on one machine or on AWS.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Show version."
        ),
    ) -> None:
        """strata: the generative-AI stack in three layers."""

    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        ep.load()(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and exit code 1, never a traceback."""
    app = build_app()
    try:
        app(args=argv, standalone_mode=False, prog_name="strata")
    except StrataError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            err_console.print("aborted")
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
