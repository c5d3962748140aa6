"""The ``strata`` command: a thin root that each layer extends through entry points.

A layer declares ``[project.entry-points."strata.commands"] name = "pkg.cli:register"``;
``register(app)`` adds its commands or sub-apps to the root Typer app. The root imports no
layer, so the layering stays intact (checked by import-linter).

The root also owns how the CLI talks to a person: help is click's plain layout for every command
(typer's rich panels print ``<bool>`` after every flag, ``--help`` included), and every mistake —
a usage error, a :class:`~strata.errors.StrataError`, an environment problem — is one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from types import ModuleType

import typer
from rich.console import Console
from rich.markup import escape

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
        # Plain help for the root and (typer passes it down) every sub-command and sub-app.
        rich_markup_mode=None,
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


def click_exceptions() -> ModuleType:
    """The exceptions module of the click that typer actually raises from.

    typer < 0.2x uses the separately installed ``click``; later versions bundle their own copy as
    ``typer._click``, whose ``ClickException`` is a different class. ``typer.BadParameter`` is
    re-exported from whichever one is in use, so its module is the right one in both cases.
    """
    return sys.modules[typer.BadParameter.__module__]


def error(message: str) -> None:
    """Print ``error: <message>`` as one line on stderr (no markup, no wrapping)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def _usage_error(exc: Exception, exceptions: ModuleType) -> int:
    """One line for a click usage error, naming the command's --help."""
    no_args_is_help = getattr(exceptions, "NoArgsIsHelpError", None)
    if no_args_is_help is not None and isinstance(exc, no_args_is_help):
        exc.show()  # `strata keys` alone: its help, as asked for by no_args_is_help
        return exc.exit_code
    message = exc.format_message().rstrip(".")
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    error(message)
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; mistakes become one line on stderr and a non-zero exit, never a traceback."""
    exceptions = click_exceptions()
    app = build_app()
    try:
        # Not standalone: errors come back here instead of typer printing a multi-line panel.
        result = app(args=argv, standalone_mode=False, prog_name="strata")
    except StrataError as exc:
        error(str(exc))
        return exc.exit_code
    except exceptions.ClickException as exc:
        return _usage_error(exc, exceptions)
    except typer.Abort:
        error("aborted")
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except OSError as exc:
        # The environment refused something (permissions, disk full): say what, on which file.
        where = f": {exc.filename}" if exc.filename else ""
        error(f"{exc.strerror or exc}{where}")
        return 1
    # In non-standalone mode an Exit raised inside a command comes back as its exit code.
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
