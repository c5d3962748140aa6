"""The planner's arithmetic, checked against hand computations written out in each test."""

from __future__ import annotations

import pytest

from infrastructure.catalog import get_instance_type
from infrastructure.planner import (
    CapacityError,
    Workload,
    get_model_preset,
    kv_bytes_per_token,
    plan,
    plan_at_saturation,
    plan_instance,
    recommend,
    weight_bytes,
)
from infrastructure.planner.sizing import kv_replication, weight_bytes_read_per_step
from strata.errors import ConfigurationError

GiB = 1024**3
LLAMA_8B = get_model_preset("llama-3.1-8b")
WORKLOAD = Workload(context_tokens=8192, concurrency=16)


def test_llama_8b_weights_and_kv_cache_per_token():
    # 2 (K,V) x 32 layers x 8 KV heads x 128 head dim x 2 bytes = 131,072 B = 128 KiB
    assert kv_bytes_per_token(LLAMA_8B) == 131_072
    assert kv_bytes_per_token(LLAMA_8B, "fp8") == 65_536
    # 8.03e9 params x 2 bytes (bf16) = 16.06 GB; int4 = 0.5 byte/param = 4.015 GB
    assert weight_bytes(LLAMA_8B, "bf16") == pytest.approx(16.06e9)
    assert weight_bytes(LLAMA_8B, "int4") == pytest.approx(4.015e9)


def test_p5_decode_ceiling_by_hand():
    p = plan_instance(LLAMA_8B, WORKLOAD, get_instance_type("ml.p5.48xlarge"))
    # tp=1 already fits (80 GiB x 0.9 = 72 GiB > 15 GiB + 2 seqs x 1 GiB), so 8 replicas x 2 seqs.
    assert (p.fits, p.tp_degree, p.replicas, p.concurrency) == (True, 1, 8, 16)
    # one step per replica reads 16.06e9 B of weights + 2 x 8192 x 131072 B of KV = 18.207483648e9 B
    step = 16.06e9 + 2 * 8192 * 131_072
    per_seq = 3350e9 / step  # H100: 3.35 TB/s -> 183.99 tok/s per sequence
    assert p.decode_tps_per_seq == pytest.approx(per_seq)
    assert p.decode_tps_aggregate == pytest.approx(16 * per_seq)  # 2943.8 tok/s
    # $55.04/h / (2943.8 tok/s x 3600 s) x 1e6 = $5.19 per 1M output tokens
    assert p.usd_per_million_output_tokens == pytest.approx(55.04 / (16 * per_seq * 3600) * 1e6)
    assert p.usd_per_million_output_tokens == pytest.approx(5.194, abs=0.001)
    # max: each replica holds floor((72 GiB - 16.06e9 B) / 1 GiB) = 57 sequences -> 456
    assert p.max_concurrency == 8 * int((72 * GiB - 16.06e9) // GiB) == 456


def test_single_a10g_holds_six_sequences():
    p = plan_instance(LLAMA_8B, WORKLOAD, get_instance_type("ml.g5.xlarge"))
    # usable 24 GiB x 0.9 = 23,192,823,398 B; minus 16.06e9 weights = 7,132,823,398 B;
    # / 1 GiB per 8192-token sequence = 6.64 -> 6 sequences
    assert (p.fits, p.max_concurrency, p.concurrency) == (False, 6, 6)
    assert "only 6 of 16" in p.reason
    # decode at the 6 that fit: 600 GB/s / (16.06e9 + 6 x 1 GiB) per step, per sequence
    assert p.decode_tps_per_seq == pytest.approx(600e9 / (16.06e9 + 6 * GiB))


def test_neuron_tp_is_over_neuroncores():
    p = plan_instance(LLAMA_8B, WORKLOAD, get_instance_type("ml.inf2.xlarge"))
    # one Inferentia2 = 2 NeuronCores x 16 GiB. tp=1: 14.4 GiB usable < 16.06e9 B of weights.
    # tp=2: 28.8 GiB = 30,923,764,531 B - 16.06e9 = 14.86e9 B -> 13 sequences of 1 GiB
    assert (p.tp_degree, p.max_concurrency, p.fits) == (2, 13, False)
    trn2 = plan_instance(LLAMA_8B, WORKLOAD, get_instance_type("ml.trn2.48xlarge"))
    # smallest trn2 degree is 4 logical cores (LNC=2) = one 96 GiB chip; 64 / 4 = 16 replicas, 1 seq each
    assert (trn2.tp_degree, trn2.replicas) == (4, 16)
    # one replica: 4 cores x 2.9 TB/s / 4 = 2.9 TB/s over 16.06e9 + 1 GiB per step
    assert trn2.decode_tps_per_seq == pytest.approx(2900e9 / (16.06e9 + GiB))


def test_kv_heads_replicate_when_tp_exceeds_them():
    # 8 KV heads over 32 shards: every shard holds one whole head -> 32/8 = 4x the cache
    assert kv_replication(LLAMA_8B, 32) == 4
    assert kv_replication(LLAMA_8B, 8) == 1
    assert kv_replication(LLAMA_8B, 12) == 1.5  # 12 shards of 8 heads: ceil(8/12)=1 head each


def test_moe_reads_active_params_for_one_sequence_and_more_experts_for_a_batch():
    mixtral = get_model_preset("mixtral-8x7b")
    # per expert (46.7 - 12.9) / (8 - 2) = 5.6333e9; shared = 46.7e9 - 8 x 5.6333e9 = 1.6333e9
    assert weight_bytes_read_per_step(mixtral, "bf16", 1) == pytest.approx(12.9e9 * 2)
    # 16 tokens each pick 2 of 8: expected experts touched = 8 x (1 - 0.75^16) = 7.92
    expected = (1.63333e9 + 5.63333e9 * 8 * (1 - 0.75**16)) * 2
    assert weight_bytes_read_per_step(mixtral, "bf16", 16) == pytest.approx(expected, rel=1e-5)
    # weights in memory are all experts
    assert weight_bytes(mixtral, "bf16") == pytest.approx(46.7e9 * 2)


def test_gpu_tp_must_divide_attention_heads():
    # Qwen2.5-7B has 28 heads: on 8 GPUs only tp 1, 2, 4 are usable. KV/token:
    # 2 x 28 x 4 x 128 x 2 = 57,344 B; x 32768 = 1.75 GiB a sequence. tp=4: 2 replicas of
    # 86.4 GiB - 15.24e9 B -> 41 sequences each = 82, short of 85 (tp=8 would have held 90).
    qwen = get_model_preset("qwen2.5-7b")
    p = plan_instance(qwen, Workload(32768, 85), get_instance_type("ml.g5.48xlarge"))
    assert (p.fits, p.tp_degree, p.max_concurrency) == (False, 4, 82)
    # Llama-3.1-8B (32 heads, 4 GiB a 32768-token sequence) may use tp=8: tp=4 holds
    # 2 x floor((86.4 GiB - 16.06e9 B) / 4 GiB) = 34 sequences, tp=8 holds floor(157.8 / 4) = 39.
    llama = plan_instance(LLAMA_8B, Workload(32768, 35), get_instance_type("ml.g5.48xlarge"))
    assert (llama.fits, llama.tp_degree, llama.max_concurrency) == (True, 8, 39)


def test_compute_ceiling_binds_for_tiny_contexts():
    smol = get_model_preset("smollm2-135m")
    p = plan_instance(smol, Workload(context_tokens=8, concurrency=4096), get_instance_type("ml.p5.48xlarge"))
    # 989 TFLOPS / (2 x 134.5e6 FLOPs per token) = 3.68M tok/s per H100, x 8
    assert p.bound == "compute"
    assert p.decode_tps_aggregate == pytest.approx(8 * 989e12 / (2 * 0.1345e9))


def test_plan_ranks_fitting_instances_by_cost_per_token():
    ranked = plan(LLAMA_8B, WORKLOAD)
    fitting = [p for p in ranked if p.fits]
    assert fitting and not any(p.fits for p in ranked[len(fitting) :])
    costs = [p.usd_per_million_output_tokens for p in fitting]
    assert costs == sorted(costs)
    assert recommend(LLAMA_8B, WORKLOAD) == ranked[0]


def test_saturation_fills_the_instance():
    sat = plan_at_saturation(LLAMA_8B, WORKLOAD, get_instance_type("ml.p5.48xlarge"))
    assert sat.fits and sat.concurrency == sat.max_concurrency > 16
    assert (
        sat.usd_per_million_output_tokens
        < plan_instance(LLAMA_8B, WORKLOAD, get_instance_type("ml.p5.48xlarge")).usd_per_million_output_tokens
    )


def test_nothing_fits_says_what_would_be_needed():
    llama70 = get_model_preset("llama-3.1-70b")
    with pytest.raises(CapacityError, match="fits on no catalogued instance") as err:
        recommend(llama70, Workload(context_tokens=131072, concurrency=256))
    # KV/token 2 x 80 x 8 x 128 x 2 = 320 KiB; x 131072 x 256 = 10,240 GiB.
    # weights 70.6e9 x 2 = 141.2e9 B = 131.5 GiB. (10,240 + 131.5) / 0.9 = 11,524 GiB
    assert "needs about 11524 GiB" in str(err.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"quant": "fp4"}, "unknown quantisation"), ({"kv_dtype": "int2"}, "unknown KV cache dtype"),
     ({"concurrency": 0}, "at least 1"), ({"bandwidth_utilisation": 1.5}, "utilisation")],
)  # fmt: skip
def test_bad_workloads(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        Workload(**({"context_tokens": 8192, "concurrency": 16} | kwargs))


def test_context_longer_than_the_model_allows():
    with pytest.raises(ConfigurationError, match="exceeds mistral-7b's maximum of 32768"):
        plan(get_model_preset("mistral-7b"), Workload(65536, 1))
