"""The provider seam: a package registers a provider through an entry point, and nothing in core changes.

The test installs a real distribution (a ``*.dist-info`` with ``entry_points.txt``) on ``sys.path``,
the way pip would, and checks that the config schema and the router pick its provider up.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest

from model_layer import plugins
from model_layer.config import config_model, parse_config, provider_config_classes
from model_layer.providers.registry import ModelRouter, provider_plugins
from strata.errors import ConfigurationError

PLUGIN_MODULE = """
from typing import ClassVar, Literal

from model_layer.config import ProviderConfigBase
from model_layer.providers.base import ProviderPlugin
from model_layer.providers.common import model_info
from model_layer.types import MessageStart, MessageStop, Metadata, BlockDelta, BlockStart, BlockStop, Usage


class ShoutConfig(ProviderConfigBase):
    type: Literal["shout"]
    suffix: str = "!"


class ShoutProvider:
    name: ClassVar[str] = "shout"
    supports_tools: ClassVar[bool] = False
    supports_embeddings: ClassVar[bool] = False

    def __init__(self, config, models):
        self.config, self._models = config, models

    def models(self):
        return [model_info(m, "Shout") for m in self._models]

    async def converse_stream(self, request):
        text = request.messages[-1]["content"][0]["text"].upper() + self.config.suffix
        yield MessageStart()
        yield BlockStart(0)
        yield BlockDelta(0, text=text)
        yield BlockStop(0)
        yield MessageStop("end_turn")
        yield Metadata(Usage(1, 1))

    async def embed(self, model_id, texts):
        raise NotImplementedError

    async def count_tokens(self, request):
        return 1

    async def aclose(self):
        return None


PLUGIN = ProviderPlugin(type="shout", display_name="Shout Inc.", config=ShoutConfig, factory=ShoutProvider)
"""


@pytest.fixture
def shout_installed(tmp_path, monkeypatch):
    (tmp_path / "strata_shout.py").write_text(PLUGIN_MODULE)
    dist = tmp_path / "strata_shout-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: strata-shout\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent("""
        [strata.providers]
        shout = strata_shout:PLUGIN
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _forget_plugins()
    yield
    sys.modules.pop("strata_shout", None)
    _forget_plugins()


def _forget_plugins() -> None:
    plugins.load.cache_clear()
    config_model.cache_clear()


def test_built_in_providers_register_through_the_seam():
    assert set(provider_plugins()) >= {"local", "sagemaker", "bedrock", "openai", "fake"}
    for name, plugin in provider_plugins().items():
        assert plugin.type == name


def test_an_installed_package_adds_a_provider_without_touching_core(shout_installed):
    assert "shout" in provider_config_classes()
    config = parse_config(
        {
            "providers": [{"name": "s", "type": "shout", "suffix": "?!"}],
            "models": [{"id": "shout.caps-v1:0", "provider": "s"}],
        }
    )
    router = ModelRouter(config)
    assert router.get_model("shout.caps-v1:0").provider_name == "Shout Inc."
    from model_layer.types import ChatRequest, collect

    request = ChatRequest("shout.caps-v1:0", [{"role": "user", "content": [{"text": "hi"}]}])
    assert asyncio.run(collect(router.converse_stream(request))).text == "HI?!"


def test_the_plugin_config_is_validated_with_its_own_keys(shout_installed):
    with pytest.raises(ConfigurationError, match=r"providers\[0\]\.bogus"):
        parse_config({"providers": [{"name": "s", "type": "shout", "bogus": 1}]})


def test_an_unregistered_type_names_the_key():
    with pytest.raises(ConfigurationError, match=r"providers\[0\]\.type"):
        parse_config({"providers": [{"name": "s", "type": "shout"}]})
