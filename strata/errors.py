"""The one base class for errors a user can act on.

Every layer raises subclasses of :class:`StrataError` for bad input or an environment problem
(unknown instance type, missing model file, port in use, unreachable endpoint). The root CLI
prints ``error: <message>`` (plus the hint) on one line and exits non-zero with no traceback.
"""

from __future__ import annotations


class StrataError(Exception):
    """An error with a message meant for the user and an optional hint saying what to do."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigurationError(StrataError):
    """Settings or files are missing, malformed or contradictory."""


class NotFoundError(StrataError):
    """A named thing (instance type, model preset, endpoint, key) does not exist."""
