"""Loading a store into the gateway: the catalog and policies into a knowledge base, and the guardrail.

Everything goes through the SDK (:class:`~model_layer.sdk.KnowledgeBasesClient`,
:class:`~model_layer.sdk.GuardrailsClient`), so the gateway may run anywhere. What was created is
remembered in ``<home>/store.json`` (knowledge-base, data-source and guardrail ids, the catalog
and policy paths) — the assistant reads it to find its store. Loading again reuses the knowledge
base (by name), replaces every document and deletes those of products no longer in the catalog.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from applications.shopping.catalog import Catalog, LineError, PolicySection, Product
from model_layer.sdk import GuardrailsClient, KnowledgeBasesClient, text_document

DEMO_DIR = Path(__file__).with_name("demo")
DEMO_CATALOG = DEMO_DIR / "catalog.jsonl"
DEMO_POLICIES = DEMO_DIR / "policies.md"
EMBEDDING_MODEL = "amazon.minilm-l6-v2:0"
BLOCKED_INPUT = (
    "Sorry, I can't help with that here. I can help you find products, compare them, or manage your cart."
)
BLOCKED_OUTPUT = "Sorry, I can't share that. Ask me about our products, policies or your cart."
DENIED_TOPICS = {
    "investment advice": "Advice on investing money: which stocks, shares, funds, bonds or crypto to buy.",
    "medical advice": "Diagnosing illnesses, recommending medicines or doses, or other medical treatment.",
}
PII = {
    "CREDIT_DEBIT_CARD_NUMBER": "ANONYMIZE",
    "CREDIT_DEBIT_CARD_CVV": "ANONYMIZE",
    "EMAIL": "ANONYMIZE",
    "PHONE": "ANONYMIZE",
    "US_SOCIAL_SECURITY_NUMBER": "ANONYMIZE",
}


@dataclass
class StoreState:
    """What ``strata shop load`` created, saved as ``<home>/store.json``."""

    name: str
    catalog: str
    policies: str | None
    knowledge_base_id: str | None = None
    data_source_id: str | None = None
    guardrail_id: str | None = None
    guardrail_version: str | None = None
    products: int = 0
    policy_sections: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, home: Path) -> StoreState | None:
        path = home / "store.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def write(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        tmp = home / "store.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, home / "store.json")  # a crash mid-write never leaves half a file


def product_text(product: Product) -> str:
    """The text a product is indexed by (facts first; reviews last, as customers wrote them)."""
    attributes = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in product.attributes.items())
    reviews = " ".join(f"({r.rating}/5) {r.text}" for r in product.reviews)
    return (
        f"{product.name} by {product.brand} ({product.id}). Category: {product.category}. "
        f"Price: {product.price:.2f} dollars. Rating: {product.rating}/5. {attributes}.\n"
        f"{product.description}\nReviews: {reviews}"
    )


def documents(catalog: Catalog, policies: list[PolicySection]) -> list[dict[str, Any]]:
    docs = [
        text_document(
            f"product-{p.id}",
            product_text(p),
            kind="product",
            product_id=p.id,
            category=p.category,
            price=p.price,
            rating=p.rating,
        )
        for p in catalog.products.values()
    ]
    docs += [
        text_document(f"policy-{s.id}", f"{s.title}\n{s.text}", kind="policy", section=s.id) for s in policies
    ]
    return docs


def _find_or_create_kb(kbs: KnowledgeBasesClient, name: str, embedding_model: str) -> tuple[str, str]:
    kb_name = f"shop-{name}"
    kb_id = next((k["knowledgeBaseId"] for k in kbs.list_knowledge_bases() if k.get("name") == kb_name), None)
    if kb_id is None:
        kb_id = kbs.create_knowledge_base(
            kb_name, embedding_model=embedding_model, description="shopping assistant catalog"
        )
    ds_id = next(
        (d["dataSourceId"] for d in kbs.list_data_sources(kb_id) if d.get("name") == "catalog"), None
    )
    return kb_id, ds_id or kbs.create_data_source(kb_id, "catalog")


def _guardrail(guards: GuardrailsClient, name: str) -> tuple[str, str]:
    gid = guards.create_guardrail(
        f"shop-{name}-guard",
        blocked_input=BLOCKED_INPUT,
        blocked_output=BLOCKED_OUTPUT,
        pii=PII,
        prompt_attack="MEDIUM",  # HIGH also blocks LOW-confidence hits: "What is my total?" was one
        denied_topics=DENIED_TOPICS,
        description="shopping assistant: prompt attacks, PII masking, denied topics",
    )
    return gid, guards.create_version(gid)


def load_store(
    home: Path,
    catalog: Catalog,
    catalog_path: Path,
    policies: list[PolicySection],
    policies_path: Path | None,
    *,
    kbs: KnowledgeBasesClient,
    guards: GuardrailsClient | None,
    name: str = "default",
    embedding_model: str = EMBEDDING_MODEL,
) -> StoreState:
    """Index the catalog and policies (replacing a previous load) and create the guardrail."""
    kb_id, ds_id = _find_or_create_kb(kbs, name, embedding_model)
    docs = documents(catalog, policies)
    wanted = {d["content"]["custom"]["customDocumentIdentifier"]["id"] for d in docs}
    stale = [
        d["identifier"]["custom"]["id"]
        for d in kbs.list_documents(kb_id, ds_id)
        if d.get("identifier", {}).get("custom", {}).get("id") not in wanted
    ]
    if stale:
        kbs.delete_documents(kb_id, ds_id, stale)
    kbs.ingest_documents(kb_id, ds_id, docs)
    previous = StoreState.read(home)
    gid, version = (None, None)
    if guards is not None:
        if previous and previous.guardrail_id and previous.name == name:
            gid, version = previous.guardrail_id, previous.guardrail_version
        else:
            gid, version = _guardrail(guards, name)
    state = StoreState(
        name=name,
        catalog=str(catalog_path.resolve()),
        policies=str(policies_path.resolve()) if policies_path else None,
        knowledge_base_id=kb_id,
        data_source_id=ds_id,
        guardrail_id=gid,
        guardrail_version=version,
        products=len(catalog.products),
        policy_sections=len(policies),
    )
    state.write(home)
    return state


def report_errors(errors: list[LineError]) -> list[str]:
    return [f"skipped {e}" for e in errors]
