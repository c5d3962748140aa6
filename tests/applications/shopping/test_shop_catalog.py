"""The catalog format and its loader: bad lines are reported by number and skipped whole; the demo."""

from __future__ import annotations

import json
import re

from applications.shopping.catalog import load_catalog, parse_catalog, parse_policies
from applications.shopping.loader import DEMO_CATALOG, DEMO_POLICIES, documents
from applications.shopping.sessions import ShippingRule

GOOD = {
    "id": "T1",
    "name": "Test Tent",
    "brand": "Acme",
    "category": "Tents",
    "price": 100,
    "rating": 4.5,
    "stock": 3,
    "attributes": {"weight_kg": 1.2},
    "description": "A tent.",
    "reviews": [{"rating": 5, "text": "Good."}],
}


def line(**changes) -> str:
    obj = {**GOOD, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not ...})


def test_good_lines_load_and_each_bad_one_is_reported_by_number_and_skipped():
    text = "\n".join(
        [
            line(),  # 1
            "",  # 2 empty
            '{"id": "T2", "name": ',  # 3 malformed JSON
            line(id="T3", price=-1),  # 4 negative price
            line(id="T4", rating=7),  # 5 rating out of range
            line(id="T5", name=...),  # 6 missing name
            line(id="T6", reviews=[{"rating": 5}]),  # 7 review without text
            line(id="T7", stock=1.5),  # 8 fractional stock
            line(),  # 9 duplicate id
            "[1, 2]",  # 10 not an object
            line(id="T8", price=True),  # 11 a boolean is not a price
            line(id="T9", policies={"returns": "Final sale."}),  # 12 good, with its own policy
        ]
    )
    catalog = parse_catalog(text)
    assert sorted(catalog.products) == ["T1", "T9"]
    assert [e.line for e in catalog.errors] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    messages = {e.line: e.message for e in catalog.errors}
    assert messages[2] == "empty line"
    assert messages[3].startswith("not valid JSON")
    assert "'price' must be at least 0.01" in messages[4]
    assert "'rating' must be between 0 and 5" in messages[5]
    assert "missing field(s): name" in messages[6]
    assert "review 1" in messages[7]
    assert "whole number" in messages[8]
    assert "duplicate id 'T1'" in messages[9]
    assert "one JSON object" in messages[10]
    assert "'price' must be a number" in messages[11]
    assert catalog.products["T1"].category == "tents"
    assert catalog.products["T9"].policies == {"returns": "Final sale."}
    assert str(catalog.errors[0]) == "line 2: empty line"


def test_ids_are_found_case_insensitively():
    catalog = parse_catalog(line())
    assert catalog.get("t1") is catalog.get("T1") is not None and catalog.get("T404") is None


def test_policies_split_at_second_level_headings():
    sections = parse_policies(
        "# Title\nintro\n## Returns\n30 days.\n## Price match\nWe match.\n### detail\nmore\n"
    )
    assert [(s.id, s.title) for s in sections] == [("returns", "Returns"), ("price-match", "Price match")]
    assert sections[1].text == "We match.\n### detail\nmore"


def test_the_demo_catalog_is_complete_and_valid():
    catalog = load_catalog(DEMO_CATALOG)
    assert catalog.errors == []
    assert len(catalog.products) >= 50 and len(catalog.categories) >= 8
    assert all(len(p.reviews) >= 2 for p in catalog.products.values())
    policies = parse_policies(DEMO_POLICIES.read_text())
    assert {"returns", "shipping", "warranty", "price-match"} <= {s.id for s in policies}
    planted = [
        p.id
        for p in catalog.products.values()
        if re.search(
            r"(?i)ignore|assistant|system|tell (every|the)|http|@",
            p.description + " ".join(r.text for r in p.reviews),
        )
    ]
    assert len(planted) >= 8, planted
    docs = documents(catalog, policies)
    assert len(docs) == len(catalog.products) + len(policies)


def test_the_shipping_rule_is_the_one_the_policy_states():
    shipping = next(s for s in parse_policies(DEMO_POLICIES.read_text()) if s.id == "shipping").text
    rule = ShippingRule()
    assert f"{rule.flat_cents / 100:.2f} dollars" in shipping
    assert f"free on orders of {rule.free_from_cents // 100} dollars or more" in shipping
