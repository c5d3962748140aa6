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
LLAMA_70B = get_model_preset("llama-3.1-70b")
WORKLOAD = Workload(context_tokens=8192, concurrency=16)
CEILING = Workload(context_tokens=8192, concurrency=16, ceiling=True, price_basis="ec2")
P5 = get_instance_type("ml.p5.48xlarge")
# Llama-3.1 embeddings: 128256 x 4096 = 525.3M parameters each for input and (untied) output.
EMB_8B = 128256 * 4096


def test_llama_8b_weights_and_kv_cache_per_token():
    # 2 (K,V) x 32 layers x 8 KV heads x 128 head dim x 2 bytes = 131,072 B = 128 KiB
    assert kv_bytes_per_token(LLAMA_8B) == 131_072
    assert kv_bytes_per_token(LLAMA_8B, "fp8") == 65_536
    # 8.03e9 params x 2 bytes = 16.06 GB; fp16 is 16-bit too
    assert weight_bytes(LLAMA_8B, "bf16") == weight_bytes(LLAMA_8B, "fp16") == pytest.approx(16.06e9)


def test_quantised_checkpoints_keep_embeddings_in_16_bit_and_carry_group_scales():
    body = 8.03e9 - 2 * EMB_8B  # 6.979e9 quantised parameters
    # int4: 0.5 B + (2 B scale + 0.5 B zero) / 128 per weight, embeddings at 2 B: 5.73 GB (not 4.0)
    assert weight_bytes(LLAMA_8B, "int4") == pytest.approx(body * (0.5 + 2.5 / 128) + 2 * EMB_8B * 2)
    assert weight_bytes(LLAMA_8B, "int4") == pytest.approx(5.73e9, rel=0.005)
    assert weight_bytes(LLAMA_8B, "fp8") == pytest.approx(9.08e9, rel=0.005)  # not 8.0
    # 70B: embeddings 128256 x 8192 each; int4 ~39.8 GB (not 35.3)
    assert weight_bytes(LLAMA_70B, "int4") == pytest.approx(39.79e9, rel=0.005)
    # A tied model counts its one embedding matrix once
    smol = get_model_preset("smollm2-135m")
    emb = 49152 * 576
    assert weight_bytes(smol, "int8") == pytest.approx((0.1345e9 - emb) * 1.0 + emb * 2)


def test_a_decode_step_reads_every_weight_but_the_input_embedding_table():
    assert weight_bytes_read_per_step(LLAMA_8B, "bf16", 1) == pytest.approx(16.06e9 - EMB_8B * 2)
    smol = get_model_preset("smollm2-135m")  # tied: the one matrix is the output projection, read whole
    assert weight_bytes_read_per_step(smol, "bf16", 1) == pytest.approx(weight_bytes(smol, "bf16"))


def test_p5_ceiling_picks_tp8_and_matches_the_hand_computation():
    p = plan_instance(LLAMA_8B, CEILING, P5)
    assert (p.fits, p.tp_degree, p.replicas, p.concurrency) == (True, 8, 1, 16)
    # one step of the single tp=8 copy reads 15.01e9 B of weights + 16 x 8192 x 131072 B of KV over
    # 8 x 3.35 TB/s, then 2 all-reduces per layer of 16 x 4096 x 2 B moving 2(8-1)/8 of it at 450 GB/s
    t_mem = (16.06e9 - EMB_8B * 2 + 16 * 8192 * 131_072) / (8 * 3350e9)
    t_comm = 2 * 32 * (2 * 7 / 8 * 16 * 4096 * 2 / 450e9)
    assert p.decode_tps_aggregate == pytest.approx(16 / (t_mem + t_comm))  # ~12,970 tok/s
    # $55.04/h EC2 / (12,970 tok/s x 3600) x 1e6 = $1.18 per 1M output tokens
    assert p.usd_per_million_output_tokens == pytest.approx(1.18, abs=0.01)
    # the old choice, 8 single-GPU copies of 2 sequences each, reads the weights 8 times: 4.2x dearer
    tp1_tps = 8 * 2 / ((16.06e9 - EMB_8B * 2 + 2 * 8192 * 131_072) / 3350e9)
    by_tp = {a["tp_degree"]: a["usd_per_million_output_tokens"] for a in p.alternatives}
    assert by_tp[1] / by_tp[8] == pytest.approx(p.decode_tps_aggregate / tp1_tps, rel=1e-4)
    assert by_tp[1] / by_tp[8] > 4


def test_realistic_figures_apply_the_calibrated_efficiency_and_collective_latency():
    p = plan_instance(LLAMA_8B, WORKLOAD, P5)
    assert (p.tp_degree, p.efficiency.value, p.collective.value) == (8, 0.64, 25e-6)
    t_mem = (16.06e9 - EMB_8B * 2 + 16 * 8192 * 131_072) / (8 * 3350e9 * 0.64)
    t_comm = 2 * 32 * (25e-6 + 2 * 7 / 8 * 16 * 4096 * 2 / 450e9)
    assert p.decode_tps_aggregate == pytest.approx(16 / (t_mem + t_comm))
    assert p.comm_ms_per_step == pytest.approx(t_comm * 1e3)
    # default price basis is SageMaker hosting: the p5 rate is an estimate (EC2 x 1.15)
    assert p.price_basis == "sagemaker" and p.price.estimated
    assert p.usd_per_hour == pytest.approx(55.04 * 1.15, abs=0.01)


def test_larger_tp_is_not_free_when_collectives_dominate():
    # A 135M model decodes in microseconds; 60 all-reduces of 140 us each over PCIe dwarf that, so
    # on 8 A10Gs the planner keeps 8 single-GPU copies even though tp=8 would read weights once.
    smol = get_model_preset("smollm2-135m")
    p = plan_instance(smol, Workload(2048, 64), get_instance_type("ml.g5.48xlarge"))
    assert (p.tp_degree, p.replicas) == (1, 8)


def test_neuron_copies_take_whole_chips():
    inf2_48 = get_instance_type("ml.inf2.48xlarge")  # 12 chips x 2 cores
    p = plan_instance(LLAMA_8B, WORKLOAD, inf2_48)
    layouts = {(a["tp_degree"], a["copies"]) for a in p.alternatives}
    assert layouts == {(2, 12), (4, 6), (8, 3), (12, 2), (24, 1)}
    assert p.devices_per_copy == p.tp_degree // 2
    # one inf2.xlarge chip: tp=1 is one copy on one core (a second copy would share the chip)
    small = plan_instance(LLAMA_8B, Workload(1024, 1), get_instance_type("ml.inf2.xlarge"))
    assert {(a["tp_degree"], a["copies"]) for a in small.alternatives} == {(1, 1), (2, 1)}


def test_trn2_searches_tp_instead_of_replicating_the_kv_cache():
    trn2 = plan_instance(LLAMA_8B, WORKLOAD, get_instance_type("ml.trn2.48xlarge"))
    # tp=64 would replicate 8 KV heads 8x; the search settles on a middle degree with several copies
    assert trn2.tp_degree not in (4, 64) and trn2.replicas == 64 // trn2.tp_degree
    assert trn2.devices_per_copy == trn2.tp_degree // 4  # 4 logical cores per Trainium2 chip


def test_kv_heads_replicate_when_tp_exceeds_them():
    # 8 KV heads over 32 shards: every shard holds one whole head -> 32/8 = 4x the cache
    assert kv_replication(LLAMA_8B, 32) == 4
    assert kv_replication(LLAMA_8B, 8) == 1
    assert kv_replication(LLAMA_8B, 12) == 1.5  # 12 shards of 8 heads: ceil(8/12)=1 head each


def test_moe_reads_active_params_for_one_sequence_and_more_experts_for_a_batch():
    mixtral = get_model_preset("mixtral-8x7b")
    emb = 32000 * 4096 * 2  # the untied input embedding table, in bytes
    # per expert (46.7 - 12.9) / (8 - 2) = 5.6333e9; one token touches 2 of 8 experts
    assert weight_bytes_read_per_step(mixtral, "bf16", 1) == pytest.approx(12.9e9 * 2 - emb)
    # 16 tokens each pick 2 of 8: expected experts untouched = 8 x 0.75^16
    expected = 46.7e9 * 2 - emb - 5.63333e9 * 8 * 0.75**16 * 2
    assert weight_bytes_read_per_step(mixtral, "bf16", 16) == pytest.approx(expected, rel=1e-5)
    assert weight_bytes(mixtral, "bf16") == pytest.approx(46.7e9 * 2)  # every expert is in memory


def test_gpu_tp_must_divide_attention_heads_and_memory_is_what_ecc_leaves():
    # Qwen2.5-7B has 28 heads: on 8 GPUs only tp 1, 2, 4 are usable.
    qwen = get_model_preset("qwen2.5-7b")
    p = plan_instance(qwen, Workload(32768, 85), get_instance_type("ml.g5.48xlarge"))
    assert {a["tp_degree"] for a in p.alternatives} == {1, 2, 4}
    # A10G exposes 23028 MiB, not 24 GiB: tp=4 holds 4 x 22.49 GiB x 0.9 = 80.96 GiB per copy;
    # less 15.24e9 B of weights, / 1.75 GiB a 32768-token sequence = 38 per copy, 76 on two copies
    per_copy = int((4 * 23028 / 1024 * 0.9 * GiB - 15.24e9) // (57_344 * 32768))
    assert (p.fits, p.tp_degree, p.max_concurrency) == (False, 4, 2 * per_copy) == (False, 4, 76)


def test_compute_ceiling_binds_for_tiny_contexts():
    smol = get_model_preset("smollm2-135m")
    p = plan_instance(smol, Workload(8, 4096, ceiling=True), P5)
    # 989 TFLOPS / (2 x 134.5e6 FLOPs per token) = 3.68M tok/s per H100, x 8 single-GPU copies
    assert p.bound == "compute" and (p.tp_degree, p.replicas) == (1, 8)
    assert p.decode_tps_aggregate == pytest.approx(8 * 989e12 / (2 * 0.1345e9))


def test_plan_ranks_fitting_instances_by_cost_per_token():
    ranked = plan(LLAMA_8B, WORKLOAD)
    fitting = [p for p in ranked if p.fits]
    assert fitting and not any(p.fits for p in ranked[len(fitting) :])
    costs = [p.usd_per_million_output_tokens for p in fitting]
    assert costs == sorted(costs)
    assert recommend(LLAMA_8B, WORKLOAD) == ranked[0]


def test_price_basis_scales_cost_by_the_price_ratio_only():
    g5 = get_instance_type("ml.g5.12xlarge")
    sm = plan_instance(LLAMA_8B, WORKLOAD, g5)
    ec2 = plan_instance(LLAMA_8B, Workload(8192, 16, price_basis="ec2"), g5)
    assert (sm.tp_degree, sm.replicas) == (ec2.tp_degree, ec2.replicas)
    assert sm.usd_per_million_output_tokens / ec2.usd_per_million_output_tokens == pytest.approx(7.09 / 5.672)


def test_saturation_fills_the_instance():
    sat = plan_at_saturation(LLAMA_8B, WORKLOAD, P5)
    assert sat.fits and sat.concurrency == sat.max_concurrency > 16
    assert (
        sat.usd_per_million_output_tokens
        < plan_instance(LLAMA_8B, WORKLOAD, P5).usd_per_million_output_tokens
    )


@pytest.mark.parametrize(
    "instance, usable, tp",
    [("ml.g5.12xlarge", "81.0", 4), ("ml.inf2.xlarge", "28.8", 2)],
)
def test_no_fit_reports_the_largest_tp(instance, usable, tp):
    # 4 x 22.49 GiB x 0.9 = 81.0 GiB on g5.12xlarge; 2 NeuronCores x 16 GiB x 0.9 = 28.8 on inf2.xlarge
    p = plan_instance(LLAMA_70B, WORKLOAD, get_instance_type(instance))
    assert not p.fits and p.tp_degree is None
    assert f"exceed {usable} GiB usable per copy at the largest tp={tp}" in p.reason


def test_partial_fit_says_how_many_sequences_fit():
    p = plan_instance(LLAMA_8B, WORKLOAD, get_instance_type("ml.g5.xlarge"))
    # 22.49 GiB x 0.9 = 20.24 GiB - 16.06e9 B of weights = 5.28 GiB -> 5 sequences of 1 GiB
    assert (p.fits, p.concurrency, p.max_concurrency) == (False, 5, 5)
    assert "only 5 of 16 sequences" in p.reason


def test_nothing_fits_says_what_would_be_needed():
    with pytest.raises(CapacityError, match="fits on no catalogued instance") as err:
        recommend(LLAMA_70B, Workload(context_tokens=131072, concurrency=256))
    # KV/token 2 x 80 x 8 x 128 x 2 = 320 KiB; x 131072 x 256 = 10,240 GiB.
    # weights 70.6e9 x 2 = 141.2e9 B = 131.5 GiB. (10,240 + 131.5) / 0.9 = 11,524 GiB
    assert "needs about 11524 GiB" in str(err.value)
    with pytest.raises(CapacityError, match=r"none of the 1 instance type\(s\) given \(ml.g5.12xlarge\)"):
        recommend(LLAMA_70B, WORKLOAD, [get_instance_type("ml.g5.12xlarge")])


def test_fixed_tp_is_checked():
    assert plan_instance(LLAMA_8B, WORKLOAD, P5, tp=2).tp_degree == 2
    with pytest.raises(ConfigurationError, match="tensor-parallel degree 3 is not possible"):
        plan_instance(LLAMA_8B, WORKLOAD, P5, tp=3)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"quant": "fp4"}, "unknown quantisation"), ({"kv_dtype": "int2"}, "unknown KV cache dtype"),
     ({"concurrency": 0}, "at least 1"), ({"bandwidth_utilisation": 1.5}, "utilisation"),
     ({"ceiling": True, "bandwidth_utilisation": 0.5}, "not both"), ({"price_basis": "spot"}, "price basis")],
)  # fmt: skip
def test_bad_workloads(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        Workload(**({"context_tokens": 8192, "concurrency": 16} | kwargs))


def test_context_longer_than_the_model_allows():
    with pytest.raises(ConfigurationError, match="exceeds mistral-7b's maximum of 32768"):
        plan(get_model_preset("mistral-7b"), Workload(65536, 1))
