"""strata.toml loading: defaults, the documented example, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_layer.config import DEFAULTS, load_config, parse_config
from model_layer.providers.registry import ModelRouter, build_router
from model_layer.settings import GatewaySettings
from strata.errors import ConfigurationError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "strata.example.toml"


def test_no_file_gives_the_embedded_local_models(tmp_path):
    config = load_config(None, home=tmp_path)
    assert [p.type for p in config.providers] == ["local"]
    ids = {m.id: m for m in config.models}
    assert ids["meta.smollm2-135m-instruct-v1:0"].native_format == "meta"
    assert ids["amazon.minilm-l6-v2:0"].kind == "embedding"
    assert ids["amazon.minilm-l6-v2:0"].native_format == "titan-embed"
    assert "local.smollm2-135m-instruct-v1:0" in ids
    assert not any(p.type == "fake" for p in config.providers)


def test_home_strata_toml_is_used_when_present(tmp_path):
    (tmp_path / "strata.toml").write_text(
        '[[providers]]\nname = "f"\ntype = "fake"\n\n[[models]]\nid = "fake.a-v1:0"\nprovider = "f"\n'
    )
    router = build_router(GatewaySettings(home=tmp_path))
    assert [m.model_id for m in router.list_models()] == ["fake.a-v1:0"]


def test_the_example_file_loads_and_documents_every_key():
    config = load_config(EXAMPLE)
    types = {p.type for p in config.providers}
    assert types == {"local", "sagemaker", "bedrock", "openai", "fake"}
    text = EXAMPLE.read_text()
    from model_layer import config as cfg

    documented = set()
    for model in (
        *cfg.provider_config_classes().values(),
        cfg.ModelConfig,
        cfg.RetryConfig,
        cfg.QuotaConfig,
        cfg.StateConfig,
    ):
        for key in model.model_fields:
            assert f"{key} =" in text or f"# {key} =" in text, f"{model.__name__}.{key} undocumented"
            documented.add(key)
    assert config.retry.max_attempts >= 1


def test_example_router_builds_without_touching_the_network():
    router = ModelRouter(load_config(EXAMPLE))
    assert router.get_model("meta.smollm2-135m-instruct-v1:0").provider_name
    assert {m.kind for m in router.list_models()} == {"chat", "embedding"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"providers": [{"name": "x", "type": "local", "bogus": 1}]}, "providers[0].bogus"),
        ({"providers": [{"name": "x", "type": "nope"}]}, "providers[0].type"),
        (
            {"providers": [{"name": "x", "type": "fake"}], "models": [{"id": "a.b", "provider": "y"}]},
            "models[0].provider: unknown provider 'y'",
        ),
        (
            {
                "providers": [{"name": "x", "type": "fake"}],
                "models": [{"id": "a.b", "provider": "x", "fallbacks": ["c.d"]}],
            },
            "models[0].fallbacks",
        ),
        (
            {"providers": [{"name": "x", "type": "fake"}], "models": [{"id": "a/b", "provider": "x"}]},
            "models[0]: model id 'a/b'",
        ),
        (
            {"providers": [{"name": "x", "type": "fake"}, {"name": "x", "type": "fake"}]},
            "providers[1]: duplicate",
        ),
        ({"retry": {"max_attempts": 0}}, "retry.max_attempts"),
        ({"quotas": {"requests_per_minute": -1}}, "quotas.requests_per_minute"),
        ({"providers": [{"name": "o", "type": "openai"}]}, "providers[0].base_url: Field required"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(data, message):
    with pytest.raises(ConfigurationError) as info:
        parse_config(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[providers]\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigurationError, match="config file not found"):
        load_config(tmp_path / "missing.toml")


def test_cli_reports_a_bad_config_in_one_line(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "strata.toml"
    bad.write_text('[[models]]\nid = "a.b"\nprovider = "nowhere"\n')
    code = (
        "from model_layer.providers.registry import build_router\n"
        "from model_layer.settings import GatewaySettings\n"
        "from strata.errors import StrataError\n"
        f"try:\n    build_router(GatewaySettings(config_file={str(bad)!r}))\n"
        "except StrataError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "models[0].provider: unknown provider 'nowhere'" in out


def test_defaults_dict_is_valid():
    assert parse_config(DEFAULTS).models
