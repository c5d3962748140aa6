"""``strata plan`` end to end: table, JSON, --compare, and one-line errors for bad input.

The cases a user reported run the installed console script as a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from strata.cli import main

STRATA = Path(sys.executable).with_name("strata")
EMB_8B = 128256 * 4096


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def _strata(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"STRATA_HOME": str(tmp_path / "home"), "COLUMNS": "250"}
    return subprocess.run([str(STRATA), *args], capture_output=True, text=True, env=env, timeout=120)


def _one_line_error(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error:") and message in proc.stderr and "Traceback" not in proc.stderr


def test_plan_json_for_the_issue_example(capsys):
    argv = ["plan", "--model", "llama-3.1-8b", "--context", "8192", "--concurrency", "16", "--json"]
    assert main(argv) == 0
    doc = _json(capsys)
    assert doc["model"]["kv_bytes_per_token"] == 131072
    assert doc["model"]["weights_gib"] == pytest.approx(16.06e9 / 1024**3, abs=1e-3)
    assert doc["price_basis"] == "sagemaker" and doc["workload"]["efficiency"] == "realistic"
    first = doc["instances"][0]
    assert first["fits"] and doc["recommendation"] == first["instance"] == doc["recommended"]["instance"]
    costs = [i["usd_per_million_output_tokens"] for i in doc["instances"] if i["fits"]]
    assert costs == sorted(costs)
    p5 = next(i for i in doc["instances"] if i["instance"] == "ml.p5.48xlarge")
    assert (p5["tp_degree"], p5["copies"], p5["efficiency"]) == (8, 1, 0.64)
    t_step = (16.06e9 - 2 * EMB_8B + 16 * 8192 * 131072) / (8 * 3350e9 * 0.64) + 64 * (
        25e-6 + 2 * 7 / 8 * 16 * 4096 * 2 / 450e9
    )
    assert p5["decode_tps_aggregate"] == pytest.approx(16 / t_step, abs=0.01)
    assert [a["tp_degree"] for a in p5["alternatives"]] == [1, 2, 4, 8]


def test_plan_table_names_the_recommendation_its_layout_and_assumptions(capsys):
    assert (
        main(["plan", "-m", "qwen2.5-72b", "--context", "4096", "--concurrency", "8", "--quant", "fp8"]) == 0
    )
    out = capsys.readouterr().out
    assert "recommended:" in out and "tensor-parallel degree" in out and "$/1M out" in out
    assert "TP x copies" in out and "efficiency: realistic" in out and "price basis: SageMaker" in out


def test_instance_filter_and_prices_override(tmp_path, capsys):
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"ml.g5.2xlarge": {"usd_per_hour": 2.0, "source": "mine", "as_of": "2026-11-01"}})
    )
    argv = ["plan", "-m", "mistral-7b", "--context", "4096", "--concurrency", "4", "--json", "--instance",
            "ml.g5.2xlarge", "--instance", "ml.inf2.xlarge", "--prices", str(prices)]  # fmt: skip
    assert main(argv) == 0
    by_name = {i["instance"]: i for i in _json(capsys)["instances"]}
    assert set(by_name) == {"ml.g5.2xlarge", "ml.inf2.xlarge"}
    assert (by_name["ml.g5.2xlarge"]["usd_per_hour"], by_name["ml.g5.2xlarge"]["price_source"]) == (
        2.0,
        "mine",
    )


def test_custom_shape_and_hf_config(tmp_path, capsys):
    argv = ["plan", "--params-b", "3.2", "--layers", "28", "--kv-heads", "8", "--head-dim", "128", "--json"]
    assert main(argv) == 0
    assert _json(capsys)["model"]["kv_bytes_per_token"] == 2 * 28 * 8 * 128 * 2
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"num_hidden_layers": 16, "hidden_size": 2048, "num_attention_heads": 32,
                               "num_key_value_heads": 8, "vocab_size": 128256, "intermediate_size": 8192,
                               "tie_word_embeddings": True, "max_position_embeddings": 131072}))  # fmt: skip
    assert main(["plan", "--hf-config", str(cfg), "--json"]) == 0
    model = _json(capsys)["model"]
    assert model["head_dim"] == 64 and model["params_b"] == pytest.approx(1.236, abs=0.01)  # Llama-3.2-1B
    assert model["tied_embeddings"] is True


def test_cli_fp16_is_16_bit(tmp_path):
    proc = _strata(tmp_path, "plan", "-m", "llama-3.1-8b", "--quant", "fp16", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["workload"]["quant"] == "fp16" and doc["model"]["weights_gb"] == pytest.approx(16.06)


def test_cli_refuses_negative_prices(tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"ml.g5.xlarge": {"usd_per_hour": -1.0, "source": "x", "as_of": "2026-11-01"}})
    )
    proc = _strata(tmp_path, "plan", "-m", "llama-3.1-8b", "--prices", str(prices))
    _one_line_error(proc, "usd_per_hour must be a positive number")


def test_cli_instance_that_cannot_hold_the_model_shows_its_row_and_the_largest_tp(tmp_path):
    args = ("plan", "-m", "llama-3.1-70b", "--instance", "ml.g5.12xlarge")
    table = _strata(tmp_path, *args)
    _one_line_error(table, "fits on none of the 1 instance type(s) given (ml.g5.12xlarge)")
    assert "ml.g5.12xlarge" in table.stdout and "exceed" in table.stdout  # the row, with its reason
    doc = _strata(tmp_path, *args, "--json")
    assert doc.returncode == 1
    row = json.loads(doc.stdout)["instances"][0]
    assert row["reason"].endswith("exceed 81.0 GiB usable per copy at the largest tp=4")


def test_cli_instance_with_partial_fit_shows_how_many_sequences_fit(tmp_path):
    proc = _strata(tmp_path, "plan", "-m", "llama-3.1-8b", "--instance", "ml.g5.xlarge", "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    row = json.loads(proc.stdout)["instances"][0]
    assert (row["fits"], row["concurrency"], row["tp_degree"]) == (False, 5, 1)
    assert row["reason"].startswith("only 5 of 16 sequences x 8192 tokens fit")


def test_cli_efficiency_modes_and_price_basis(tmp_path):
    def p5(*extra: str) -> dict:
        proc = _strata(
            tmp_path, "plan", "-m", "llama-3.1-8b", "--instance", "ml.p5.48xlarge", "--json", *extra
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["instances"][0]

    realistic, ceiling, half = p5(), p5("--ceiling"), p5("--utilisation", "0.5", "--price-basis", "ec2")
    assert (realistic["efficiency"], ceiling["efficiency"], half["efficiency"]) == (0.64, 1.0, 0.5)
    assert ceiling["collective_latency_us"] == 0 and realistic["collective_latency_us"] == 25
    # the ceiling at tp=8 is the issue's $1.19/1M on EC2 prices; realistic figures cost more
    assert ceiling["decode_tps_aggregate"] > realistic["decode_tps_aggregate"] > half["decode_tps_aggregate"]
    assert half["price_basis"] == "ec2" and half["usd_per_hour"] == 55.04
    assert realistic["price_basis"] == "sagemaker" and realistic["price_estimated"] is True
    both = _strata(tmp_path, "plan", "-m", "llama-3.1-8b", "--ceiling", "--utilisation", "0.5")
    _one_line_error(both, "give --ceiling or --utilisation, not both")


def test_cli_compare_restates_the_verdict_on_both_price_bases(tmp_path):
    proc = _strata(tmp_path, "plan", "-m", "llama-3.1-8b", "--compare")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "verdict (EC2 prices, filled to capacity, ml.trn2.48xlarge vs" in out
    assert "on SageMaker hosting prices: Trainium2 gives" in out and "TP x copies @full" in out
    doc = json.loads(_strata(tmp_path, "plan", "-m", "llama-3.1-8b", "--compare", "--json").stdout)
    assert doc["best_trainium2"] == "ml.trn2.48xlarge" and doc["price_basis"] == "ec2"
    assert doc["assumptions"]["prices"]["ml.p5.48xlarge"]["as_of"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plan", "--model", "gpt-5"], "unknown model preset 'gpt-5'"),
        (["plan", "-m", "llama-3.1-8b", "--instance", "ml.x9.huge"], "unknown instance type 'ml.x9.huge'"),
        (["plan", "-m", "llama-3.1-8b", "--quant", "fp4"], "unknown quantisation 'fp4'"),
        (["plan", "-m", "llama-3.1-8b", "--price-basis", "spot"], "unknown price basis 'spot'"),
        (["plan", "-m", "llama-3.1-70b", "--context", "131072", "--concurrency", "256"],
         "fits on no catalogued instance"),
        (["plan", "--hf-config", "/nonexistent/config.json"], "cannot read /nonexistent/config.json"),
        (["plan"], "give exactly one of --model"),
        (["plan", "--params-b", "7"], "--params-b needs --layers --kv-heads --head-dim"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_1(capsys, argv, message):
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.startswith("error:") and "Traceback" not in captured.err


def test_installed_command_prints_no_traceback(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    proc = _strata(tmp_path, "plan", "--hf-config", str(bad))
    assert proc.returncode == 1
    assert "is not valid JSON" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") <= 2  # one logical line (rich may wrap it once)
