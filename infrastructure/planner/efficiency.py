"""How far serving engines get from the bandwidth ceiling, and what a tensor-parallel step costs.

Two calibrated factors turn the planner's hardware ceiling into a realistic figure. Each carries
the published measurement it comes from, and says when it is an estimate:

* **Decode efficiency**: the fraction of spec-sheet memory bandwidth a serving engine reaches in
  decode on one device. Derived as (bytes one decode step must read ÷ bandwidth) ÷ the measured
  time per output token, with the bytes counted the way :mod:`.memory` counts them.
* **Collective latency**: the time one tensor-parallel all-reduce costs beyond moving its bytes
  (launch, synchronisation, the per-layer work TP adds), per interconnect. Fitted to published
  multi-device per-token latencies after subtracting the decode time the efficiency predicts.

Together they reproduce the published per-token latencies they come from within 25% (H100 tp1/2/8
and 70B tp8: -3%, +1%, -20%, +9%; inf2 Llama-2-13B tp24: +1%; trn2 tp64 70B/405B: -21%, +13%;
``tests/infrastructure/planner/test_planner_efficiency.py``). ``--utilisation X`` replaces the
efficiency (keeping the collective latency); ``--ceiling`` sets the efficiency to 1 and the latency
to 0, leaving pure hardware limits (memory bandwidth, compute, link bandwidth) — an upper bound.
The project's own local benchmark (``bench/planner_vs_local.py``: 0.29 of the ceiling) measures a
135M model on a CPU, where per-token overheads dominate; it is not used for accelerators.
"""

from __future__ import annotations

from dataclasses import dataclass

from infrastructure.catalog import Accelerator, Interconnect


@dataclass(frozen=True)
class Factor:
    value: float
    source: str
    estimated: bool = False


_LAMBDA = "LambdaLabsML/vllm-benchmark results/prompt_10 (vLLM 0.6, 2024-09-07; ITL is per 10-token step)"
_HF_TGI = "philschmid/text-generation-inference-tests results/sagemaker.csv (TGI 1.0.3 on SageMaker, 2023)"
_NXDI = "aws-neuron-sdk NxD Inference trn2 tutorials (llama70b/llama405b_perf_comparison.csv, batch 1)"

# Measured: H100 (Llama-3-8B bf16, 1xH100 SXM, <=10 sequences: 72.3 ms per 10 tokens = 7.23 ms/token
# vs a 15.4 GB step at 3.35 TB/s = 4.6 ms); A100-40GB (Llama-3.1-8B bf16, vLLM 0.23, one request:
# 75 tok/s vs 15.15 GB at 1.555 TB/s = 103 tok/s; Lambda's A100-80GB run gives 0.66); A10G
# (Llama-2-7B fp16 on ml.g5.2xlarge, one user: 30.96 ms/token vs 13.35 GB at 600 GB/s = 22.2 ms).
_MEASURED = {
    "H100": Factor(0.64, f"{_LAMBDA}: 1xH100 Meta-Llama-3-8B tp1, 4.6 ms floor / 7.23 ms per token"),
    "A100-40GB": Factor(
        0.73, "johnmusgrave.com 'vLLM throughput-latency sweep on NVIDIA A100' (A100 40GB, vLLM 0.23, "
        "Llama-3.1-8B, 1 request: 75 tok/s vs 103 tok/s floor); Lambda 1xA100-80GB gives 0.66",
    ),
    "A10G": Factor(0.72, f"{_HF_TGI}: Llama-2-7b ml.g5.2xlarge tp1, 1 user, 22.2 ms floor / 30.96 ms"),
}  # fmt: skip
_NVIDIA_MEAN = round(sum(f.value for f in _MEASURED.values()) / len(_MEASURED), 2)
_ESTIMATE_NVIDIA = Factor(
    _NVIDIA_MEAN, "ESTIMATE: mean of the measured NVIDIA factors (H100, A100, A10G); none published found",
    estimated=True,
)  # fmt: skip
# No single-device Neuron decode latency was found; the NVIDIA mean is assumed. With the
# collective latencies below it reproduces the published Neuron figures within 25% (see above).
_ESTIMATE_NEURON = Factor(
    _NVIDIA_MEAN, "ESTIMATE: assumed equal to the NVIDIA mean (no single-device Neuron figure found); "
    f"checked against {_NXDI} and the Neuron 2.16 inf2.48xlarge Llama-2-13B tp24 TPOT (5.1 ms)",
    estimated=True,
)  # fmt: skip

# Fits (seconds per all-reduce): NVSwitch from Lambda's 2xH100 tp2 Llama-3-8B (5.07 ms/token: 23 us),
# 8xH100 tp8 Llama-3-8B (3.16 ms: 35 us) and tp8 Llama-3-70B (11.3 ms: 20 us). PCIe from TGI 1.0.3 on
# g5: Llama-2-13B tp4 75 us, 70B tp8 79 us, 7B tp4 143 us, 13B tp8 176 us, 7B tp8 220 us (median
# 143). NeuronLink-v2 from inf2.48xlarge Llama-2-13B tp24 (5.1 ms vs 3.95 ms decode: 14 us).
# NeuronLink-v3 from trn2.48xlarge tp64 Llama-3.3-70B (19.8 ms: 92 us) and Llama-3.1-405B (37.9 ms:
# 46 us); 65 us puts both within about 20%. The trn2 fit is at tp=64 across 16 chips and is applied
# to every tp > 1, so it likely overstates small, single-chip groups.
_COLLECTIVE = {
    "NVLink 4 (NVSwitch)": Factor(25e-6, f"fit to {_LAMBDA}: 2x/8xH100 Llama-3-8B/70B, 20-35 us"),
    "NVLink 3 (NVSwitch)": Factor(25e-6, "ESTIMATE: assumed equal to the H100 NVSwitch fit", estimated=True),
    "PCIe 4.0 x16": Factor(140e-6, f"fit to {_HF_TGI}: g5.12xlarge/48xlarge tp4/tp8, 75-220 us, median"),
    "NeuronLink-v2": Factor(
        15e-6, "fit to Neuron 2.16 inf2.48xlarge Llama-2-13B tp24 TPOT 5.1 ms (aws-neuron-sdk "
        "general/benchmarks/inf2/latency_data_decoder.csv)",
    ),
    "NeuronLink-v3": Factor(65e-6, f"fit to {_NXDI}: Llama-3.3-70B 92 us, Llama-3.1-405B 46 us"),
}  # fmt: skip
_ESTIMATE_LINK = Factor(100e-6, "ESTIMATE: no published figure for this interconnect", estimated=True)
CEILING = Factor(1.0, "ceiling: spec-sheet bandwidth, no collective latency")
NO_LATENCY = Factor(0.0, "ceiling: no collective latency")


def decode_efficiency(accelerator: Accelerator) -> Factor:
    """The realistic fraction of ``accelerator``'s memory bandwidth a serving engine reaches."""
    if accelerator.name in _MEASURED:
        return _MEASURED[accelerator.name]
    return _ESTIMATE_NVIDIA if accelerator.family == "nvidia" else _ESTIMATE_NEURON


def collective_latency(link: Interconnect) -> Factor:
    """Seconds one tensor-parallel all-reduce costs over ``link`` beyond moving its bytes."""
    return _COLLECTIVE.get(link.name, _ESTIMATE_LINK)


def user_efficiency(value: float) -> Factor:
    return Factor(value, f"--utilisation {value:g} (given by the user)")
