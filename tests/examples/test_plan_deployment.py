"""examples/plan_deployment.py runs and prints the planner's recommendation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infrastructure.planner import Workload, get_model_preset, recommend

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "plan_deployment.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_example_prints_the_recommendation_and_its_layout():
    proc = _run("--context", "8192", "--concurrency", "16")
    assert proc.returncode == 0, proc.stderr
    best = recommend(get_model_preset("llama-3.1-8b"), Workload(8192, 16))
    layout = f"tensor-parallel degree {best.tp_degree} x {best.copies} cop"
    assert f"recommendation: {best.instance.name} with {layout}" in proc.stdout
    assert proc.stdout.count("per 1M output tokens") == 4  # three candidates + the recommendation
    assert "realistic efficiency, sagemaker prices" in proc.stdout


def test_example_ceiling_on_ec2_prices():
    proc = _run("--ceiling", "--price-basis", "ec2")
    assert proc.returncode == 0, proc.stderr
    best = recommend(get_model_preset("llama-3.1-8b"), Workload(8192, 16, ceiling=True, price_basis="ec2"))
    assert f"${best.usd_per_million_output_tokens:.3f} per 1M output tokens" in proc.stdout.splitlines()[-1]


def test_example_reports_bad_input_without_a_traceback():
    proc = _run("--quant", "fp4")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: unknown quantisation") and "Traceback" not in proc.stderr
