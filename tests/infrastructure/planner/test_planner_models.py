"""Model presets, parameter estimation and Hugging Face config.json parsing."""

from __future__ import annotations

import json

import pytest

from infrastructure.planner import (
    PRESETS,
    custom_model,
    estimate_params,
    get_model_preset,
    model_from_hf_config,
)
from strata.errors import ConfigurationError, NotFoundError

LLAMA_31_8B_CONFIG = {
    "_name_or_path": "meta-llama/Llama-3.1-8B-Instruct",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 131072,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "tie_word_embeddings": False,
    "vocab_size": 128256,
}
MIXTRAL_CONFIG = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "num_attention_heads": 32,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "num_local_experts": 8,
    "vocab_size": 32000,
}


def test_at_least_six_presets_with_hf_ids():
    for name in ("llama-3.1-8b", "llama-3.1-70b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "qwen2.5-72b",
                 "smollm2-135m"):  # fmt: skip
        spec = get_model_preset(name)
        assert "/" in spec.hf_id and spec.max_context >= 8192


@pytest.mark.parametrize("spec", PRESETS.values(), ids=lambda s: s.name)
def test_preset_params_agree_with_the_architecture(spec):
    tied = spec.name == "smollm2-135m"  # SmolLM2 ties input and output embeddings
    shape = dict(
        layers=spec.layers, hidden_size=spec.hidden_size, num_attention_heads=spec.num_attention_heads,
        kv_heads=spec.kv_heads, head_dim=spec.head_dim, vocab_size=spec.vocab_size,
        intermediate_size=spec.intermediate_size, num_experts=spec.num_experts, tied_embeddings=tied,
    )  # fmt: skip
    assert estimate_params(**shape) / 1e9 == pytest.approx(spec.params_b, rel=0.015)
    if spec.is_moe:
        active = estimate_params(**shape, experts_used=spec.experts_per_token)
        assert active / 1e9 == pytest.approx(spec.active_params_b, rel=0.015)


def test_llama_8b_param_count_by_hand():
    # embeddings 2 x 128256 x 4096 = 1,050,673,152
    # per layer: q,o 2 x 4096^2 + k,v 2 x 4096 x 1024 + MLP 3 x 4096 x 14336 + norms 2 x 4096
    #   = 33,554,432 + 8,388,608 + 176,160,768 + 8,192 = 218,112,000; x 32 = 6,979,584,000
    # + final norm 4096 -> 8,030,261,248
    spec = get_model_preset("llama-3.1-8b")
    assert estimate_params(
        layers=32, hidden_size=4096, num_attention_heads=32, kv_heads=8, head_dim=128,
        vocab_size=128256, intermediate_size=14336,
    ) == 8_030_261_248  # fmt: skip
    assert spec.params_b == 8.03


def test_hf_config_llama(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA_31_8B_CONFIG))
    spec = model_from_hf_config(path)
    assert spec.hf_id == "meta-llama/Llama-3.1-8B-Instruct"
    assert (spec.layers, spec.kv_heads, spec.head_dim, spec.max_context) == (32, 8, 128, 131072)
    assert spec.params_b == pytest.approx(8.030261248)
    assert not spec.is_moe


def test_hf_config_mixtral_counts_all_experts_and_active_ones(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(MIXTRAL_CONFIG))
    spec = model_from_hf_config(path)
    assert (spec.num_experts, spec.experts_per_token) == (8, 2)
    assert spec.params_b == pytest.approx(46.7, rel=0.01)
    assert spec.active_params_b == pytest.approx(12.9, rel=0.01)
    shared, per_expert = spec.expert_params()
    assert shared + 8 * per_expert == pytest.approx(spec.total_params)
    assert shared + 2 * per_expert == pytest.approx(spec.active_params)


def test_hf_config_nested_text_config_and_explicit_head_dim(tmp_path):
    cfg = {"text_config": LLAMA_31_8B_CONFIG | {"head_dim": 64}, "vision_config": {}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    assert model_from_hf_config(path).head_dim == 64


@pytest.mark.parametrize(
    "content, message",
    [(None, "cannot read"), ("{oops", "not valid JSON"), ("[1, 2]", "expected an object"),
     (json.dumps({"hidden_size": 4096}), "num_hidden_layers")],
)  # fmt: skip
def test_bad_hf_configs_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError, match=message) as err:
        model_from_hf_config(path)
    assert "\n" not in str(err.value)


def test_unknown_preset_lists_presets():
    with pytest.raises(NotFoundError) as err:
        get_model_preset("gpt-5")
    assert "llama-3.1-8b" in str(err.value) and "smollm2-135m" in str(err.value)


def test_custom_model_validation():
    spec = custom_model(params_b=3.2, layers=28, kv_heads=8, head_dim=128)
    assert spec.total_params == pytest.approx(3.2e9)
    with pytest.raises(ConfigurationError, match="--layers"):
        custom_model(params_b=3.2, layers=0, kv_heads=8, head_dim=128)
    with pytest.raises(ConfigurationError, match="MoE"):
        custom_model(params_b=47, layers=32, kv_heads=8, head_dim=128, num_experts=8, experts_per_token=2)
