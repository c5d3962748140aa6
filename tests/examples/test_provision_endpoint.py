"""examples/provision_endpoint.py provisions and tears down an endpoint offline (moto)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infrastructure.planner import Workload, get_model_preset, recommend

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "provision_endpoint.py"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | env,
    )


def test_example_provisions_converges_and_tears_down():
    proc = _run("--mock")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    best = recommend(get_model_preset("smollm2-135m"), Workload(4096, 4))
    assert best.copies == 1  # one copy per instance: the classic endpoint, five resources
    assert f"planner: smollm2-135m -> {best.instance.name} (tp={best.tp_degree} x 1)" in out
    assert "provision: 5 change(s)" in out
    assert "provision again: 0 change(s)" in out
    assert "raise max capacity to 4: 1 change(s): update scalable-target" in out
    assert "endpoint strata-example: InService on strata-example-c-" in out
    assert "deprovision: 5 change(s)" in out
    assert "deprovision again: 0 change(s)" in out


def test_example_with_several_copies_per_instance_uses_an_inference_component():
    proc = _run("--mock", "--model", "llama-3.1-8b", "--context", "8192", "--concurrency", "16",
                "--instance", "ml.inf2.48xlarge")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "deployment: ml.inf2.48xlarge: tensor-parallel degree 12 x 2 copies per instance" in out
    assert "provision: 6 change(s): create model, create endpoint-config, create endpoint, " in out
    assert "create inference-component" in out and "provision again: 0 change(s)" in out
    assert "deprovision: 6 change(s)" in out and "deprovision again: 0 change(s)" in out


def test_example_mock_via_env_and_bad_model_is_one_line():
    proc = _run("--model", "gpt-99", STRATA_EXAMPLE_MOCK="1")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: unknown model preset 'gpt-99'") and "Traceback" not in proc.stderr
