"""Model shapes the planner sizes: presets for open models, Hugging Face config.json parsing,
and custom shapes from flags.

A :class:`ModelSpec` carries just what memory and bandwidth arithmetic needs: parameter counts
(total, and active per token for mixture-of-experts), layers, KV heads and head dim (for the KV
cache), attention heads (GPU tensor parallelism must divide them), hidden size and vocabulary (for
the 16-bit embeddings of quantised checkpoints and the tensor-parallel all-reduce) and the maximum
context.
Preset numbers are the published architecture values from each model's config.json; the
parameter counts are the published ones (``estimate_params`` reproduces them within ~1%).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strata.errors import ConfigurationError, NotFoundError


@dataclass(frozen=True)
class ModelSpec:
    """The shape of one decoder-only transformer, as far as capacity planning needs it."""

    name: str
    hf_id: str  # Hugging Face repository id the serving container would load
    params_b: float  # total parameters, billions (all experts for MoE: all live in memory)
    layers: int
    kv_heads: int
    head_dim: int
    max_context: int
    num_attention_heads: int = 0  # 0 = unknown (then GPU TP divisibility is not checked)
    hidden_size: int = 0
    vocab_size: int = 0
    intermediate_size: int = 0
    num_experts: int = 1
    experts_per_token: int = 1
    active_params_b: float | None = None  # params used per token (MoE); None = all
    tied_embeddings: bool = False  # the output projection shares the input embedding matrix

    @property
    def total_params(self) -> float:
        return self.params_b * 1e9

    @property
    def active_params(self) -> float:
        return (self.active_params_b if self.active_params_b is not None else self.params_b) * 1e9

    @property
    def width(self) -> float:
        """Hidden size (the width of the activations a tensor-parallel all-reduce sums)."""
        if self.hidden_size:
            return float(self.hidden_size)
        if self.num_attention_heads:
            return float(self.num_attention_heads * self.head_dim)
        # A decoder layer holds ~12 x hidden^2 parameters (attention 4h^2, a 4h MLP 8h^2).
        return (self.total_params / (12 * self.layers)) ** 0.5

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 1

    def expert_params(self) -> tuple[float, float]:
        """(params shared by every token, params of one expert), summed over all layers.

        From total = shared + E·expert and active = shared + k·expert.
        """
        if not self.is_moe:
            return self.total_params, 0.0
        per_expert = (self.total_params - self.active_params) / (self.num_experts - self.experts_per_token)
        return self.total_params - self.num_experts * per_expert, per_expert


def _preset(**kw: Any) -> ModelSpec:
    return ModelSpec(**kw)


# Architecture numbers from each repository's config.json; params_b from the model cards.
PRESETS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        _preset(
            name="llama-3.1-8b", hf_id="meta-llama/Llama-3.1-8B-Instruct", params_b=8.03,
            layers=32, hidden_size=4096, num_attention_heads=32, kv_heads=8, head_dim=128,
            vocab_size=128256, intermediate_size=14336, max_context=131072,
        ),
        _preset(
            name="llama-3.1-70b", hf_id="meta-llama/Llama-3.1-70B-Instruct", params_b=70.6,
            layers=80, hidden_size=8192, num_attention_heads=64, kv_heads=8, head_dim=128,
            vocab_size=128256, intermediate_size=28672, max_context=131072,
        ),
        _preset(
            name="mistral-7b", hf_id="mistralai/Mistral-7B-Instruct-v0.3", params_b=7.25,
            layers=32, hidden_size=4096, num_attention_heads=32, kv_heads=8, head_dim=128,
            vocab_size=32768, intermediate_size=14336, max_context=32768,
        ),
        _preset(
            name="mixtral-8x7b", hf_id="mistralai/Mixtral-8x7B-Instruct-v0.1", params_b=46.7,
            active_params_b=12.9, num_experts=8, experts_per_token=2,
            layers=32, hidden_size=4096, num_attention_heads=32, kv_heads=8, head_dim=128,
            vocab_size=32000, intermediate_size=14336, max_context=32768,
        ),
        _preset(
            name="qwen2.5-7b", hf_id="Qwen/Qwen2.5-7B-Instruct", params_b=7.62,
            layers=28, hidden_size=3584, num_attention_heads=28, kv_heads=4, head_dim=128,
            vocab_size=152064, intermediate_size=18944, max_context=32768,
        ),
        _preset(
            name="qwen2.5-72b", hf_id="Qwen/Qwen2.5-72B-Instruct", params_b=72.7,
            layers=80, hidden_size=8192, num_attention_heads=64, kv_heads=8, head_dim=128,
            vocab_size=152064, intermediate_size=29568, max_context=32768,
        ),
        _preset(
            name="smollm2-135m", hf_id="HuggingFaceTB/SmolLM2-135M-Instruct", params_b=0.1345,
            layers=30, hidden_size=576, num_attention_heads=9, kv_heads=3, head_dim=64,
            vocab_size=49152, intermediate_size=1536, max_context=8192, tied_embeddings=True,
        ),
    )
}  # fmt: skip


def get_model_preset(name: str) -> ModelSpec:
    """A preset by name (case-insensitive); the error lists every preset."""
    spec = PRESETS.get(name.strip().lower())
    if spec is None:
        raise NotFoundError(f"unknown model preset {name!r}", hint=f"choose one of: {', '.join(PRESETS)}")
    return spec


def estimate_params(
    *,
    layers: int,
    hidden_size: int,
    num_attention_heads: int,
    kv_heads: int,
    head_dim: int,
    vocab_size: int,
    intermediate_size: int,
    num_experts: int = 1,
    experts_used: int | None = None,
    tied_embeddings: bool = False,
) -> float:
    """Parameter count of a Llama-style decoder (gated MLP, GQA attention), norms included.

    ``experts_used`` counts only that many experts per layer (the active parameters of an MoE).
    Biases (Qwen's QKV bias) are ignored: < 0.01% of the total.
    """
    experts = num_experts if experts_used is None else experts_used
    attention = hidden_size * head_dim * (2 * num_attention_heads + 2 * kv_heads)  # q, o, k, v
    mlp = 3 * hidden_size * intermediate_size * experts  # gate, up, down per expert
    router = hidden_size * num_experts if num_experts > 1 else 0
    per_layer = attention + mlp + router + 2 * hidden_size  # two RMSNorms
    embeddings = vocab_size * hidden_size * (1 if tied_embeddings else 2)
    return layers * per_layer + embeddings + hidden_size


def _text_config(raw: dict[str, Any]) -> dict[str, Any]:
    # Multimodal configs (Llama 3.2 Vision, Qwen2-VL, ...) nest the language model.
    if "num_hidden_layers" not in raw and isinstance(raw.get("text_config"), dict):
        return raw["text_config"]
    return raw


def _required(cfg: dict[str, Any], key: str, path: Path) -> int:
    value = cfg.get(key)
    if not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{path}: config.json has no positive integer {key!r}")
    return value


def model_from_hf_config(path: str | Path) -> ModelSpec:
    """Build a ModelSpec from a Hugging Face ``config.json``; parameters are estimated."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path} is not a Hugging Face config.json (expected an object)")
    cfg = _text_config(raw)
    layers = _required(cfg, "num_hidden_layers", path)
    hidden = _required(cfg, "hidden_size", path)
    heads = _required(cfg, "num_attention_heads", path)
    vocab = _required(cfg, "vocab_size", path)
    kv_heads = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or hidden // heads
    experts = cfg.get("num_local_experts") or cfg.get("num_experts") or 1
    top_k = (cfg.get("num_experts_per_tok") or 1) if experts > 1 else 1
    # Qwen-MoE style configs give the per-expert width separately from the dense MLP width.
    intermediate = cfg.get("moe_intermediate_size") if experts > 1 else None
    intermediate = intermediate or _required(cfg, "intermediate_size", path)
    shape = dict(
        layers=layers, hidden_size=hidden, num_attention_heads=heads, kv_heads=kv_heads,
        head_dim=head_dim, vocab_size=vocab, intermediate_size=intermediate, num_experts=experts,
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
    )  # fmt: skip
    total = estimate_params(**shape)
    active = estimate_params(**shape, experts_used=top_k) if experts > 1 else None
    name = str(raw.get("_name_or_path") or path.parent.name or "custom")
    return ModelSpec(
        name=name.rsplit("/", 1)[-1].lower() or "custom",
        hf_id=name,
        params_b=total / 1e9,
        active_params_b=None if active is None else active / 1e9,
        layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        max_context=int(cfg.get("max_position_embeddings") or 0) or 4096,
        num_attention_heads=heads,
        hidden_size=hidden,
        vocab_size=vocab,
        intermediate_size=intermediate,
        num_experts=experts,
        experts_per_token=top_k,
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
    )


def custom_model(
    *,
    params_b: float,
    layers: int,
    kv_heads: int,
    head_dim: int,
    max_context: int = 131072,
    active_params_b: float | None = None,
    num_attention_heads: int = 0,
    num_experts: int = 1,
    experts_per_token: int = 1,
    name: str = "custom",
    hf_id: str = "",
) -> ModelSpec:
    """A ModelSpec from explicit numbers (the ``--params-b --layers ...`` flags)."""
    for label, value in (("params-b", params_b), ("layers", layers), ("kv-heads", kv_heads),
                         ("head-dim", head_dim), ("max-context", max_context)):  # fmt: skip
        if value is None or value <= 0:
            raise ConfigurationError(f"--{label} must be a positive number, got {value}")
    if active_params_b is not None and not 0 < active_params_b <= params_b:
        raise ConfigurationError("--active-params-b must be positive and at most --params-b")
    if not 1 <= experts_per_token <= num_experts:
        raise ConfigurationError("--experts-per-token must be between 1 and --experts")
    if num_experts > 1 and (active_params_b is None or experts_per_token == num_experts):
        raise ConfigurationError(
            "an MoE (--experts > 1) needs --active-params-b and --experts-per-token < --experts"
        )
    return ModelSpec(
        name=name, hf_id=hf_id or name, params_b=params_b, layers=layers, kv_heads=kv_heads,
        head_dim=head_dim, max_context=max_context, num_attention_heads=num_attention_heads,
        active_params_b=active_params_b, num_experts=num_experts, experts_per_token=experts_per_token,
    )  # fmt: skip
