"""``strata plan`` end to end: table, JSON, --compare, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from strata.cli import main

STRATA = Path(sys.executable).with_name("strata")


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_plan_json_for_the_issue_example(capsys):
    argv = ["plan", "--model", "llama-3.1-8b", "--context", "8192", "--concurrency", "16", "--json"]
    assert main(argv) == 0
    doc = _json(capsys)
    assert doc["model"]["kv_bytes_per_token"] == 131072
    assert doc["model"]["weights_gib"] == pytest.approx(16.06e9 / 1024**3, abs=1e-3)
    first = doc["instances"][0]
    assert first["fits"] and doc["recommendation"] == first["instance"]
    costs = [i["usd_per_million_output_tokens"] for i in doc["instances"] if i["fits"]]
    assert costs == sorted(costs)
    p5 = next(i for i in doc["instances"] if i["instance"] == "ml.p5.48xlarge")
    assert p5["decode_tps_aggregate"] == pytest.approx(16 * 3350e9 / (16.06e9 + 2 * 8192 * 131072), abs=0.01)


def test_plan_table_names_the_recommendation(capsys):
    assert (
        main(["plan", "-m", "qwen2.5-72b", "--context", "4096", "--concurrency", "8", "--quant", "fp8"]) == 0
    )
    out = capsys.readouterr().out
    assert "recommended:" in out and "$/1M out" in out and "prices:" in out


def test_instance_filter_and_prices_override(tmp_path, capsys):
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"ml.g5.2xlarge": {"usd_per_hour": 2.0, "source": "mine", "as_of": "2026-11-01"}})
    )
    argv = ["plan", "-m", "mistral-7b", "--context", "4096", "--concurrency", "4", "--json", "--instance",
            "ml.g5.2xlarge", "--instance", "ml.inf2.xlarge", "--prices", str(prices)]  # fmt: skip
    assert main(argv) == 0
    doc = _json(capsys)
    by_name = {i["instance"]: i for i in doc["instances"]}
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


def test_compare_json_and_table(capsys):
    assert main(["plan", "-m", "llama-3.1-8b", "--compare", "--json"]) == 0
    doc = _json(capsys)
    assert doc["verdict"] and doc["best_trainium2"] == "ml.trn2.48xlarge"
    assert doc["assumptions"]["prices"]["ml.p5.48xlarge"]["as_of"]
    assert main(["plan", "-m", "llama-3.1-8b", "--compare"]) == 0
    out = capsys.readouterr().out
    assert "verdict" in out and "claim:" in out and "price ml.trn2.48xlarge" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plan", "--model", "gpt-5"], "unknown model preset 'gpt-5'"),
        (["plan", "-m", "llama-3.1-8b", "--instance", "ml.x9.huge"], "unknown instance type 'ml.x9.huge'"),
        (["plan", "-m", "llama-3.1-8b", "--quant", "fp4"], "unknown quantisation 'fp4'"),
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
    proc = subprocess.run([str(STRATA), "plan", "--hf-config", str(bad)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert "is not valid JSON" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") <= 2  # one logical line (rich may wrap it once)
