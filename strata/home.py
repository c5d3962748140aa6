"""Where strata keeps local state: ``STRATA_HOME`` (default ``~/.strata``)."""

from __future__ import annotations

import os
from pathlib import Path


def strata_home() -> Path:
    """Return the state directory, creating it (mode 0700: it holds secrets) if needed."""
    home = Path(os.environ.get("STRATA_HOME") or Path.home() / ".strata").expanduser()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home
