"""Wiring one store's assistant from its settings: gateway URL and credentials, model, app home.

:func:`open_shop` reads ``<home>/store.json`` (written by ``strata shop load``), the catalog and
policies it names, and builds the SDK clients, the tools (with knowledge-base search) and the
:class:`~.assistant.Assistant`. Settings come from arguments or ``STRATA_SHOP_*`` variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from applications.shopping.assistant import Assistant
from applications.shopping.catalog import Catalog, PolicySection, load_catalog, load_policies
from applications.shopping.loader import StoreState
from applications.shopping.sessions import SessionStore
from applications.shopping.tools import Retriever, ShopTools
from model_layer.sdk import GuardrailsClient, KnowledgeBasesClient, RetryPolicy, StrataAPIError, StrataClient

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_MODEL = "local.smollm2-135m-instruct-v1:0"


class ShopNotLoaded(RuntimeError):
    """No store was loaded in this home yet (run ``strata shop load``)."""


@dataclass
class ShopSettings:
    url: str = DEFAULT_URL
    api_key: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    model_id: str = DEFAULT_MODEL
    home: Path = Path(".strata/shopping")
    timeout_s: float = 120.0
    retries: int = 2
    planner: str = "model"  # or "prefetch" (the app picks the tools: for models too small to plan)

    @classmethod
    def from_env(cls, **overrides: Any) -> ShopSettings:
        env = os.environ
        strata_home = Path(env.get("STRATA_HOME", Path.home() / ".strata"))
        values: dict[str, Any] = {
            "url": env.get("STRATA_SHOP_URL", DEFAULT_URL),
            "api_key": env.get("STRATA_SHOP_API_KEY") or env.get("STRATA_API_KEY"),
            "access_key": env.get("STRATA_SHOP_ACCESS_KEY_ID"),
            "secret_key": env.get("STRATA_SHOP_SECRET_ACCESS_KEY"),
            "model_id": env.get("STRATA_SHOP_MODEL", DEFAULT_MODEL),
            "planner": env.get("STRATA_SHOP_PLANNER", "model"),
            "home": Path(env.get("STRATA_SHOP_HOME", strata_home / "shopping")),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def client_options(self) -> dict[str, Any]:
        auth = {"api_key": self.api_key} if self.api_key else {}
        if self.access_key:
            auth = {"access_key": self.access_key, "secret_key": self.secret_key}
        retry = RetryPolicy(max_attempts=self.retries + 1)
        return {**auth, "timeout": self.timeout_s, "retry": retry}


def kb_retriever(kbs: KnowledgeBasesClient, kb_id: str) -> Retriever:
    """Product ids for a query from the knowledge base; [] (keyword ranking) when it cannot answer."""

    def retrieve(query: str, k: int) -> list[str]:
        if not query.strip():
            return []
        try:
            chunks = kbs.retrieve(
                kb_id, query, number_of_results=k, filter={"equals": {"key": "kind", "value": "product"}}
            )
        except StrataAPIError:
            return []  # the gateway is down or busy: search still works on the catalog's own words
        ids: list[str] = []
        for chunk in chunks:
            pid = str(chunk.metadata.get("product_id", ""))
            if pid and pid not in ids:
                ids.append(pid)
        return ids

    return retrieve


@dataclass
class Shop:
    settings: ShopSettings
    state: StoreState
    catalog: Catalog
    policies: list[PolicySection]
    sessions: SessionStore
    tools: ShopTools
    assistant: Assistant
    client: StrataClient
    kbs: KnowledgeBasesClient
    guards: GuardrailsClient

    def close(self) -> None:
        for c in (self.client, self.kbs, self.guards):
            c.close()


def open_shop(settings: ShopSettings) -> Shop:
    if settings.planner not in ("model", "prefetch"):
        raise ShopNotLoaded(f"planner must be 'model' or 'prefetch', not {settings.planner!r}")
    state = StoreState.read(settings.home)
    if state is None:
        raise ShopNotLoaded(f"no store loaded in {settings.home}: run `strata shop load` first")
    catalog = load_catalog(state.catalog)
    policies = load_policies(state.policies) if state.policies else []
    options = settings.client_options()
    client = StrataClient(settings.url, **options)
    kbs = KnowledgeBasesClient(settings.url, **options)
    guards = GuardrailsClient(settings.url, **options)
    retriever = kb_retriever(kbs, state.knowledge_base_id) if state.knowledge_base_id else None
    sessions = SessionStore(settings.home / "shopping.db")
    tools = ShopTools(catalog, policies, sessions, retriever=retriever)
    guardrail = (state.guardrail_id, state.guardrail_version) if state.guardrail_id else None
    assistant = Assistant(
        client,
        tools,
        model_id=settings.model_id,
        guardrails=guards,
        guardrail=guardrail,  # type: ignore[arg-type]
        planner=settings.planner,
    )
    return Shop(settings, state, catalog, policies, sessions, tools, assistant, client, kbs, guards)
