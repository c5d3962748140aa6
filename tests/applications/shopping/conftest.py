"""Fixtures: one live gateway per module with the demo store loaded (loading embeds 66 documents)."""

from __future__ import annotations

import pytest

from applications.shopping.catalog import load_catalog, load_policies
from applications.shopping.loader import DEMO_CATALOG, DEMO_POLICIES, load_store
from model_layer.sdk import GuardrailsClient, KnowledgeBasesClient
from tests.applications.shopping.shop_harness import live_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with live_gateway(tmp_path_factory.mktemp("gateway")) as gw:
        yield gw


@pytest.fixture(scope="module")
def store_home(gateway, tmp_path_factory):
    """An app home with the demo store loaded (through the SDK) into the module's gateway."""
    home = tmp_path_factory.mktemp("shop")
    with (
        KnowledgeBasesClient(gateway.url, api_key=gateway.api_key) as kbs,
        GuardrailsClient(gateway.url, api_key=gateway.api_key) as guards,
    ):
        load_store(
            home,
            load_catalog(DEMO_CATALOG),
            DEMO_CATALOG,
            load_policies(DEMO_POLICIES),
            DEMO_POLICIES,
            kbs=kbs,
            guards=guards,
        )
    return home


@pytest.fixture
def shop(gateway, store_home, tmp_path):
    """The assistant over the loaded store, with a fresh session database per test."""
    (tmp_path / "store.json").write_bytes((store_home / "store.json").read_bytes())
    shop = gateway.shop(tmp_path)
    gateway.model.queue.clear()
    yield shop
    shop.close()
