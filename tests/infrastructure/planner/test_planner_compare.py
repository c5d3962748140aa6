"""Trainium vs GPU comparison and the verdict on the Trainium2 price-performance claim."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from infrastructure.catalog import Price, get_instance_type, instance_types
from infrastructure.planner import Workload, compare, get_model_preset, plan_at_saturation
from infrastructure.planner.compare import judge

LLAMA_8B = get_model_preset("llama-3.1-8b")
WORKLOAD = Workload(context_tokens=8192, concurrency=16, price_basis="ec2")


def test_advantage_is_the_ratio_of_costs_per_token_at_saturation():
    c = compare(LLAMA_8B, WORKLOAD)
    assert c.best_trainium2 == "ml.trn2.48xlarge"
    trn2 = plan_at_saturation(LLAMA_8B, WORKLOAD, get_instance_type(c.best_trainium2))
    gpu = plan_at_saturation(LLAMA_8B, WORKLOAD, get_instance_type(c.best_current_gpu))
    assert c.best_current_gpu.startswith(("ml.p5.", "ml.g6e."))
    expected = gpu.usd_per_million_output_tokens / trn2.usd_per_million_output_tokens - 1
    assert c.advantage_at_saturation == pytest.approx(expected)
    assert c.verdict == judge(expected)


def test_both_price_bases_are_judged():
    c = compare(LLAMA_8B, WORKLOAD)
    assert set(c.by_basis) == {"ec2", "sagemaker"} and c.by_basis["ec2"] == c.advantage
    sm = compare(LLAMA_8B, replace(WORKLOAD, price_basis="sagemaker"))
    assert sm.advantage == c.by_basis["sagemaker"]
    doc = c.to_dict()
    assert doc["price_basis"] == "ec2" and set(doc["by_price_basis"]) == {"ec2", "sagemaker"}


def test_rows_use_the_tp_search_and_carry_provenance():
    c = compare(LLAMA_8B, WORKLOAD)
    assert {r.workload.instance.family for r in c.trainium} == {"trainium"}
    assert {r.workload.instance.family for r in c.gpu} == {"nvidia"}
    trn2 = next(r for r in c.trainium if r.workload.instance.name == "ml.trn2.48xlarge")
    assert trn2.workload.tp_degree < 64 and trn2.workload.replicas == 64 // trn2.workload.tp_degree
    price = c.assumptions["prices"]["ml.trn2.48xlarge"]
    assert price["usd_per_hour"] > 0 and price["source"] and price["as_of"]
    assert c.assumptions["efficiency_by_accelerator"]["H100"]["value"] == 0.64
    doc = json.loads(json.dumps(c.to_dict()))
    assert doc["verdict"] == c.verdict and "30-40%" in doc["claim"]


@pytest.mark.parametrize(
    "advantage, start",
    [(0.81, "supported and exceeded"), (0.35, "supported:"), (0.30, "supported:"), (0.10, "not supported"),
     (-0.2, "contradicted"), (None, "cannot judge")],
)  # fmt: skip
def test_judge_thresholds(advantage, start):
    assert judge(advantage).startswith(start)


def test_prices_drive_the_verdict():
    # Double trn2's price: the catalog's advantage must shrink accordingly (cost per token doubles).
    base = compare(LLAMA_8B, WORKLOAD)
    pricey = get_instance_type("ml.trn2.48xlarge")
    doubled = replace(pricey, ec2_price=Price(pricey.ec2_price.usd_per_hour * 2, "test", "2026-01-01"))
    pool = [doubled if i.name == pricey.name else i for i in instance_types()]
    c = compare(LLAMA_8B, WORKLOAD, pool)
    assert c.advantage_at_saturation == pytest.approx((base.advantage_at_saturation + 1) / 2 - 1)
