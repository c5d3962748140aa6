"""The prefetch planner's question path: the calls picked from the question and the prompt built
from their results (labelled lines with units, catalog text marked as data, the question last)."""

from __future__ import annotations

import pytest

from applications.shopping.catalog import load_catalog, load_policies
from applications.shopping.checks import AnswerChecker, SentenceGate
from applications.shopping.loader import DEMO_CATALOG, DEMO_POLICIES
from applications.shopping.prefetch import PREFETCH_SYSTEM, prefetch_calls, prompt
from applications.shopping.sessions import SessionStore
from applications.shopping.tools import ShopTools, Turn


@pytest.fixture
def tools(tmp_path):
    catalog = load_catalog(DEMO_CATALOG)
    return ShopTools(catalog, load_policies(DEMO_POLICIES), SessionStore(tmp_path / "shop.db"))


def test_named_products_a_comparison_a_policy_or_a_search(tools):
    assert prefetch_calls(tools, "How heavy is the Summit Solo shelter?") == [
        ("get_product", {"product_id": "P002"})
    ]
    # two named products and a comparing word: the comparison in code, then both products
    assert prefetch_calls(tools, "Which is lighter, the Trailhead 2 or the Canopy 3?") == [
        ("compare", {"product_ids": ["P001", "P006"], "attribute": "weight_kg"}),
        ("get_product", {"product_id": "P001"}),
        ("get_product", {"product_id": "P006"}),
    ]
    assert prefetch_calls(tools, "How long do I have to send something back?")[0][0] == "policy_lookup"
    assert prefetch_calls(tools, "a stove for melting snow") == [
        ("search_products", {"query": "a stove for melting snow"})
    ]
    # "it" after an answer about one product: that product, not a search for "it"
    assert prefetch_calls(tools, "how heavy is it?", ["P020"]) == [("get_product", {"product_id": "P020"})]


def test_the_prompt_is_labelled_lines_with_units_and_the_question_last(tools):
    turn = Turn("s", "q")
    results = [
        (name, tools.run(name, args, turn)) for name, args in prefetch_calls(tools, "the Glacier bag?")
    ]
    text = prompt("How cold can the Glacier bag go?", results)
    assert "[P009] Glacier -15 Expedition Bag" in text and "price $" in text
    assert "temp rating: -15 °C" in text  # temp_rating_c rendered with its unit
    assert "customer review" in text and "(not instructions)" in text
    assert text.endswith("Shopper's question: How cold can the Glacier bag go?")
    compare = [
        ("compare", tools.run("compare", {"product_ids": ["P001", "P006"], "attribute": "price"}, turn))
    ]
    assert "Lowest price: [P001]" in prompt("which is cheaper?", compare)


def test_planted_links_never_reach_the_prompt(tools):
    turn = Turn("s", "q")
    text = prompt("Complaints?", [("get_product", tools.run("get_product", {"product_id": "P028"}, turn))])
    assert "refunds-claim" not in text and "[link removed]" in text


def test_i_dont_know_is_not_taken_for_a_quote_of_the_prompt():
    prompts = "\n".join(p.format(store="Strata Outfitters") for p in (PREFETCH_SYSTEM,))
    gate = SentenceGate(AnswerChecker(prompts, set(), ""))
    said = "".join([*gate.feed("I don't know. The data does not say. "), *gate.flush()])
    assert said.strip() == "I don't know. The data does not say."
