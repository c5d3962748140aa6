"""The calibration factors: every accelerator and interconnect has one, with its source, and together
they reproduce the published per-token latencies they were taken from."""

from __future__ import annotations

import pytest

from infrastructure.catalog import get_instance_type, instance_types
from infrastructure.planner import (
    Workload,
    collective_latency,
    decode_efficiency,
    get_model_preset,
    plan_instance,
)
from infrastructure.planner.models import ModelSpec


@pytest.mark.parametrize("inst", instance_types(), ids=lambda i: i.name)
def test_every_instance_has_sourced_factors(inst):
    eff, link = decode_efficiency(inst.accelerator), collective_latency(inst.interconnect)
    assert 0.5 < eff.value < 0.9 and eff.source
    assert 0 < link.value < 200e-6 and link.source
    assert eff.estimated == eff.source.startswith("ESTIMATE")
    assert link.estimated == link.source.startswith("ESTIMATE")


def test_measured_and_estimated_factors_are_told_apart():
    measured = {
        i.accelerator.name for i in instance_types() if not decode_efficiency(i.accelerator).estimated
    }
    assert measured == {"H100", "A100-40GB", "A10G"}
    trn2 = get_instance_type("ml.trn2.48xlarge")
    assert decode_efficiency(trn2.accelerator).estimated  # no single-device Neuron figure was found
    assert not collective_latency(trn2.interconnect).estimated  # fitted to NxD Inference's tp=64 runs


LLAMA_3_70B = get_model_preset("llama-3.1-70b")  # Llama-3.3-70B has the same shape
LLAMA_405B = ModelSpec(
    name="llama-3.1-405b", hf_id="meta-llama/Llama-3.1-405B", params_b=405.85, layers=126, kv_heads=8,
    head_dim=128, max_context=131072, num_attention_heads=128, hidden_size=16384, vocab_size=128256,
)  # fmt: skip
LLAMA_2_13B = ModelSpec(
    name="llama-2-13b", hf_id="meta-llama/Llama-2-13b-hf", params_b=13.016, layers=40, kv_heads=40,
    head_dim=128, max_context=4096, num_attention_heads=40, hidden_size=5120, vocab_size=32000,
)  # fmt: skip
LLAMA_3_8B = get_model_preset("llama-3.1-8b")  # Llama-3-8B has the same shape


@pytest.mark.parametrize(
    "model, instance, tp, context, batch, published_ms",
    [
        # Lambda vllm-benchmark (vLLM 0.6), <=10 short prompts: median ITL / 10-token step
        (LLAMA_3_8B, "ml.p5.48xlarge", 1, 300, 10, 7.23),
        (LLAMA_3_8B, "ml.p5.48xlarge", 2, 300, 10, 5.07),
        (LLAMA_3_8B, "ml.p5.48xlarge", 8, 300, 10, 3.16),
        (LLAMA_3_70B, "ml.p5.48xlarge", 8, 300, 10, 11.3),
        # Neuron 2.16 inf2.48xlarge, Llama-2-13B tp24, batch 1, 1024 in + 1024 out
        (LLAMA_2_13B, "ml.inf2.48xlarge", 24, 1536, 1, 5.1),
        # NxD Inference tutorials on trn2.48xlarge, tp64 (LNC=2), batch 1, 10000 in + 1500 out
        (LLAMA_3_70B, "ml.trn2.48xlarge", 64, 10750, 1, 19.8),
        (LLAMA_405B, "ml.trn2.48xlarge", 64, 10750, 1, 37.9),
    ],
)  # fmt: skip
def test_calibration_reproduces_the_published_latencies(model, instance, tp, context, batch, published_ms):
    p = plan_instance(model, Workload(context, batch), get_instance_type(instance), tp=tp)
    assert 1e3 / p.decode_tps_per_seq == pytest.approx(published_ms, rel=0.25)
