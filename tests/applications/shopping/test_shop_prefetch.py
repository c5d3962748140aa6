"""The prefetch planner's question path: the calls picked from the question and the prompt built
from their results (labelled lines with units, catalog text marked as data, the question last)."""

from __future__ import annotations

import pytest

from applications.shopping.catalog import load_catalog, load_policies
from applications.shopping.checks import AnswerChecker, SentenceGate
from applications.shopping.constraints import search_arguments
from applications.shopping.loader import DEMO_CATALOG, DEMO_POLICIES
from applications.shopping.prefetch import (
    PREFETCH_SYSTEM,
    asked_attribute,
    comparison_answer,
    prefetch_calls,
    prompt,
)
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
        ("search_products", {"query": "a stove for melting snow", "category": "stoves"})
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
    assert "temperature rating: -15 °C" in text  # temp_rating_c rendered with its unit
    assert "shoppers' rating 4.6 of 5" in text  # the stars, told apart from the temperature rating
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


@pytest.mark.parametrize(
    "question, filters, found",
    [
        (
            "I need a tent for two under 300 dollars that weighs less than 1.5 kg.",
            {"category": "tents", "max_price": 300.0},
            ["P001"],
        ),
        ("Packs of 40 litres or more that weigh under 1.5 kg?", {"category": "backpacks"}, ["P016", "P013"]),
        ("Which stove boils water in under three minutes?", {}, ["P026"]),  # "water" and "stove": no category
        ("An insulated hooded jacket waterproof to at least 10000 mm?", {"category": "jackets"}, ["P047"]),
        ("Rechargeable headlamps, 600 lumens or more, below $100", {"max_price": 100.0}, ["P020", "P022"]),
        ("A sleeping bag for nights below freezing, under 400 dollars?", {"max_price": 400.0}, ["P007"]),
    ],
)
def test_search_constraints_are_read_from_the_question(tools, question, filters, found):
    arguments = search_arguments(tools.catalog, question)
    assert arguments["query"] == question and filters.items() <= arguments.items()
    result = tools.run("search_products", arguments, Turn("s", question))
    assert sorted(r["id"] for r in result["results"]) == sorted(found)


def test_strict_limits_and_units_of_the_category(tools):
    attributes = search_arguments(tools.catalog, "a tent for two under 300 dollars, less than 1.5 kg")[
        "attributes"
    ]
    assert attributes == {"weight_kg": {"lt": 1.5}, "capacity_persons": {"min": 2.0}}
    # "under 1 kg" for jackets, whose weights are in grams: converted
    assert search_arguments(tools.catalog, "a jacket under 1 kg")["attributes"] == {
        "weight_g": {"lt": 1000.0}
    }
    # "under 2 minutes" excludes a stove that boils in exactly 2.0; "at most" keeps it
    turn = Turn("s", "q")
    strict = tools.run(
        "search_products", search_arguments(tools.catalog, "stove, under 2 minutes to boil"), turn
    )
    assert strict["results"] == []
    at_most = tools.run(
        "search_products", search_arguments(tools.catalog, "stove boiling in at most 2 minutes"), turn
    )
    assert [r["id"] for r in at_most["results"]] == ["P026"]


def test_a_comparison_is_answered_from_the_numbers_by_code(tools):
    turn = Turn("s", "q")
    question = "Which bag is good for colder nights, the Ember -5 or the Glacier -15?"
    calls = prefetch_calls(tools, question)
    assert calls[0] == ("compare", {"product_ids": ["P007", "P009"], "attribute": "temp_rating_c"})
    results = [(name, tools.run(name, args, turn)) for name, args in calls]
    assert comparison_answer(question, results) == (
        "The Glacier -15 Expedition Bag [P009] is warmer (rated for colder nights): "
        "temperature rating -15 °C, against -5 °C for the other."
    )
    cheaper = "Is the Jet Cook System or the Multifuel Expedition Stove cheaper?"
    results = [(name, tools.run(name, args, turn)) for name, args in prefetch_calls(tools, cheaper)]
    answer = comparison_answer(cheaper, results)
    assert answer is not None and answer.startswith("The Jet Cook System [P026] is cheaper: price $139.00")
    assert comparison_answer("Tell me about the Jet Cook System", results) is None  # no comparing word


def test_the_assistant_answers_a_comparison_without_the_model(shop, gateway):
    shop.assistant.planner = "prefetch"
    before = len(gateway.model.requests)
    answer = shop.assistant.ask("Which is lighter, the Trailhead 2 or the Canopy 3?", "s-compare")
    assert [c["name"] for c in answer.tool_calls] == ["compare", "get_product", "get_product"]
    assert answer.answer == (
        "The Trailhead 2 Tent [P001] is lighter: weight 1.35 kg, against 1.95 kg for the other."
    )
    assert len(gateway.model.requests) == before and answer.citations["products"] == ["P001"]


@pytest.mark.parametrize(
    "question, calls",
    [
        # "pack" is the category's word (backpacks), not the Featherlite 40 Pack's name
        ("What volume in litres does the Ridgeline pack have?", [("get_product", "P013")]),
        # "insulated" describes products: "an insulated hooded jacket" names no Insulated Parka
        ("An insulated hooded jacket waterproof to at least 10000 mm?", [("search_products", None)]),
        # constraints and no product named beyond doubt: a search ("1.5" names no Cold Brew Jar 1.5 L)
        ("Packs of 40 litres or more that weigh under 1.5 kg?", [("search_products", None)]),
        ("Rechargeable headlamps, at least 600 lumens, less than 100 dollars", [("search_products", None)]),
        # named beyond doubt, even with a constraint
        ("Is the Beam 900 under 100 dollars?", [("get_product", "P020")]),
    ],
)
def test_products_named_by_a_question_and_searches_told_apart(tools, question, calls):
    assert [(name, args.get("product_id")) for name, args in prefetch_calls(tools, question)] == calls


def test_the_asked_attribute_closes_the_data(tools):
    turn = Turn("s", "q")
    results = [("get_product", tools.run("get_product", {"product_id": "P002"}, turn))]
    text = prompt("How heavy is the Summit Solo ultralight shelter?", results)
    assert "The answer: the Summit Solo Ultralight Tent [P002] has weight: 0.82 kg" in text
    assert asked_attribute("How much does it cost?", {"weight_kg": 1}) == "price"
    # a word of the product's name asks nothing ("Insulated Parka"); nothing asked: no line
    parka = tools.catalog.products["P047"]
    fill = "What is the fill power of the Insulated Parka?"
    assert asked_attribute(fill, parka.attributes, parka.name) is None
    assert "The answer:" not in prompt("Tell me about the Summit Solo", results)


@pytest.mark.parametrize(
    "question, section",
    [
        ("How long do I have to send something back?", "returns"),
        ("If I spend 80 dollars, do I pay for delivery?", "shipping"),
        ("How quick is express delivery and what does it cost?", "shipping"),  # was returns: "delivery"
        ("Will you refund the difference if I find it cheaper elsewhere?", "price-match"),
        ("Can I use a gift card to pay?", "payment"),
    ],
)
def test_the_shoppers_own_words_find_the_policy_section(tools, question, section):
    assert tools.run("policy_lookup", {"topic": question}, Turn("s", question))["section"] == section
