"""The provisioner's two failure kinds (both one-line :class:`StrataError`\\ s for the CLI)."""

from __future__ import annotations

from strata.errors import StrataError


class ProvisionError(StrataError):
    """A run failed; the message says what was rolled back and exactly what, if anything, is left."""


class WaitTimeout(StrataError):
    """An endpoint (or component) did not settle in time; it still exists and a re-run resumes waiting."""
