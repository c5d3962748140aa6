"""Bytes a model occupies and reads: weights per quantisation, the KV cache, and what a decode step streams.

Quantised checkpoints (AWQ, GPTQ, FP8) keep the token embeddings and the output projection in
16-bit and quantise the rest; 4-bit formats also carry one 16-bit scale and one 4-bit zero point
per group of 128 weights (AWQ/GPTQ's default group size), 2.5 bytes per 128 weights. Int8 and
FP8 scales are per channel or per tensor: negligible. Presets and Hugging Face configs know the
vocabulary and hidden size; a model given only by ``--params-b`` is quantised whole (no
embeddings known), which understates it by the embedding share.
"""

from __future__ import annotations

import math

from infrastructure.planner.models import ModelSpec
from strata.errors import ConfigurationError

GiB = 1024**3
QUANT_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
GROUP_SCALE_BYTES: dict[str, float] = {"int4": 2.5 / 128}
SIXTEEN_BIT = frozenset({"bf16", "fp16"})
KV_DTYPE_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}
MEMORY_RESERVE = 0.10


def check_quant(quant: str) -> str:
    if quant not in QUANT_BYTES:
        raise ConfigurationError(
            f"unknown quantisation {quant!r}", hint=f"choose one of: {', '.join(QUANT_BYTES)}"
        )
    return quant


def embedding_params(model: ModelSpec) -> tuple[float, float]:
    """(input embedding, output projection) parameters; the output is 0 when tied to the input."""
    table = float(model.vocab_size * model.hidden_size)
    return table, 0.0 if model.tied_embeddings else table


def weight_bytes(model: ModelSpec, quant: str) -> float:
    """Bytes of all weights held in accelerator memory (MoE: every expert)."""
    check_quant(quant)
    if quant in SIXTEEN_BIT:
        return model.total_params * 2.0
    embeddings = sum(embedding_params(model))
    return (model.total_params - embeddings) * _body_bytes_per_param(quant) + embeddings * 2.0


def weight_bytes_read_per_step(model: ModelSpec, quant: str, batch: int) -> float:
    """Weight bytes one decode step streams for ``batch`` sequences.

    Everything except an untied input embedding table (a step looks up ``batch`` rows of it);
    for an MoE, the shared weights plus the experts at least one of the batch's tokens routes
    to: expected fraction ``1 - (1 - k/E)^batch`` of the experts.
    """
    untied_input = 0.0 if model.tied_embeddings else embedding_params(model)[0] * 2.0
    total = weight_bytes(model, quant)
    if not model.is_moe:
        return total - untied_input
    _, per_expert = model.expert_params()
    k, e = model.experts_per_token, model.num_experts
    untouched = (1 - k / e) ** batch  # expected fraction of experts no token in the batch routes to
    return total - untied_input - per_expert * e * _body_bytes_per_param(quant) * untouched


def _body_bytes_per_param(quant: str) -> float:
    """Bytes per parameter outside the embeddings."""
    return 2.0 if quant in SIXTEEN_BIT else QUANT_BYTES[quant] + GROUP_SCALE_BYTES.get(quant, 0.0)


def kv_bytes_per_token(model: ModelSpec, kv_dtype: str = "bf16") -> float:
    """2 (K and V) × layers × KV heads × head dim × bytes per element."""
    return 2 * model.layers * model.kv_heads * model.head_dim * KV_DTYPE_BYTES[kv_dtype]


def kv_replication(model: ModelSpec, tp: int) -> float:
    """Factor by which tensor parallelism replicates KV heads (1 when tp divides the KV heads)."""
    return math.ceil(model.kv_heads / tp) * tp / model.kv_heads
