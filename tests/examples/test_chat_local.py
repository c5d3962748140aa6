"""examples/chat_local.py runs end to end with the packaged model."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.model


def test_chat_local_example_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")} | {
        "STRATA_HOME": str(tmp_path)
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "chat_local.py"), "Which screwdriver for a Phillips screw?"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert int(re.search(r"prompt tokens: (\d+)", out).group(1)) > 20
    assert re.search(r"answer: \S", out)
    structured = re.search(r"structured: (\{.*\})", out).group(1)
    assert "product" in structured and "in_stock" in structured
    stats = re.search(r"prefix cache: (\{.*\})", out).group(1)
    # The structured request reused the system prompt cached by the first one.
    assert ast.literal_eval(stats)["cached_tokens"] > 0
