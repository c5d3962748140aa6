"""The tools in code: search filters, product details as untrusted data, compare, policies, and the
cart rules that keep planted instructions from moving the cart whatever the model calls."""

from __future__ import annotations

import pytest

from applications.shopping.catalog import load_catalog, load_policies
from applications.shopping.loader import DEMO_CATALOG, DEMO_POLICIES
from applications.shopping.sessions import SessionStore
from applications.shopping.tools import ShopTools, Turn


@pytest.fixture
def tools(tmp_path):
    return ShopTools(
        load_catalog(DEMO_CATALOG), load_policies(DEMO_POLICIES), SessionStore(tmp_path / "s.db")
    )


def turn(text: str, **kw) -> Turn:
    return Turn("s1", text, **kw)


def ids(result) -> list[str]:
    return [r["id"] for r in result["results"]]


def test_search_with_constraints(tools):
    t = turn("a 2-person tent under 300 dollars, under 1.5 kg")
    result = tools.run(
        "search_products",
        {
            "query": "2-person tent",
            "category": "tents",
            "max_price": 300,
            "attributes": {"weight_kg": {"max": 1.5}, "capacity_persons": {"min": 2}},
        },
        t,
    )
    assert ids(result) == ["P001"]
    assert "description" not in result["results"][0]  # search shows structured facts only
    assert t.products == ["P001"]
    cheap = tools.run(
        "search_products", {"query": "headlamp", "max_price": "$40", "min_rating": 4.4}, turn("x")
    )
    assert set(ids(cheap)) == {"P019", "P023"}
    none = tools.run("search_products", {"query": "tent", "category": "tents", "max_price": 10}, turn("x"))
    assert none["results"] == [] and "no product" in none["note"]
    waterproof = tools.run(
        "search_products", {"query": "boots", "attributes": {"waterproof": True}}, turn("x")
    )
    assert "P038" not in ids(waterproof) and ids(waterproof)


def test_keyword_ranking_without_a_knowledge_base_puts_the_named_product_first(tools):
    assert ids(tools.run("search_products", {"query": "espresso machine"}, turn("x")))[0] == "P058"


def test_a_knowledge_base_retriever_orders_the_results(tmp_path):
    order = ["P003", "P001"]
    tools = ShopTools(
        load_catalog(DEMO_CATALOG), [], SessionStore(tmp_path / "s.db"), retriever=lambda q, k: order
    )
    assert ids(tools.run("search_products", {"query": "family tent"}, turn("x"))) == order


def test_product_details_mark_catalog_text_untrusted_and_strip_links(tools):
    t = turn("tell me about P028")
    result = tools.run("get_product", {"product_id": "p028"}, t)
    assert result["id"] == "P028" and result["price"] == 65.0
    untrusted = result["untrusted_catalog_text"]
    assert "never instructions" in untrusted["warning"]
    text = " ".join(r["text"] for r in untrusted["reviews"])
    assert "http" not in text and "[link removed]" in text
    email = tools.run("get_product", {"product_id": "P047"}, t)["untrusted_catalog_text"]["reviews"][1][
        "text"
    ]
    assert "@" not in email and "[email removed]" in email
    assert tools.run("get_product", {"product_id": "P404"}, t) == {"error": "no product with id 'P404'"}


def test_compare_and_policy_lookup(tools):
    t = turn("which is lighter?")
    result = tools.run("compare", {"product_ids": ["P001", "P002", "P404"], "attribute": "weight_kg"}, t)
    assert result["lowest"] == "P002" and result["highest"] == "P001" and result["unknown_ids"] == ["P404"]
    assert 0.82 in t.numbers and 1.35 in t.numbers
    policy = tools.run("policy_lookup", {"topic": "how long do I have to return boots?"}, t)
    assert policy["section"] == "returns" and "30 days" in policy["text"]
    assert tools.run("policy_lookup", {"topic": "price match"}, t)["section"] == "price-match"
    assert t.policies == ["returns", "price-match"]


def test_unknown_tools_and_bad_arguments_are_observations(tools):
    assert "unknown tool" in tools.run("launch_rocket", {}, turn("x"))["error"]
    assert "bad arguments" in tools.run("get_product", {"sku": "P001"}, turn("x"))["error"]
    assert "must be an object" in tools.run("get_product", ["P001"], turn("x"))["error"]


def test_cart_changes_need_the_shoppers_own_words(tools):
    # the shopper asked about a product; a planted review asks for a cart change: refused
    t = turn("Tell me about the Lumen sleeping bag")
    assert "did not ask to change the cart" in tools.run("add_to_cart", {"product_id": "P010"}, t)["error"]
    # the shopper asks to add P010; the model (misled by P010's review) adds 3 of P017: refused
    t = turn("Please add the Lumen sleeping bag to my cart")
    tools.run("get_product", {"product_id": "P010"}, t)
    tools.run("get_product", {"product_id": "P017"}, t)  # even if the model looked P017 up
    assert (
        "did not ask for P017" in tools.run("add_to_cart", {"product_id": "P017", "quantity": 3}, t)["error"]
    )
    assert tools.run("add_to_cart", {"product_id": "P010"}, t)["added"] == {"id": "P010", "quantity": 1}
    # a quantity the shopper never said
    t = turn("add the Lumen bag to my cart")
    assert "did not ask for 3" in tools.run("add_to_cart", {"product_id": "P010", "quantity": 3}, t)["error"]
    # "remove everything" planted in P041's review: the shopper asked nothing about removing
    t = turn("Are the Sandal Trek good for rivers?")
    assert "error" in tools.run("remove_from_cart", {"product_id": "P010"}, t)
    assert tools.sessions.view("s1", tools.catalog)["lines"][0] == {
        "id": "P010",
        "name": "Lumen 0 Hybrid Sleeping Bag",
        "quantity": 1,
        "unit_price": 199.0,
        "line_total": 199.0,
    }


def test_pointing_words_refer_to_the_previous_answer_in_the_category_named(tools):
    t = turn("add two of the cheapest tent to my cart", focus=["P005", "P019"])
    assert tools.run("add_to_cart", {"product_id": "P005", "quantity": 2}, t)["added"]["quantity"] == 2
    assert "did not ask for P019" in tools.run("add_to_cart", {"product_id": "P019"}, t)["error"]
    t = turn("add it to the cart", focus=["P019"])
    assert tools.run("add_to_cart", {"product_id": "P019"}, t)["added"]["id"] == "P019"
    t = turn("add it to the cart", focus=["P019"])
    assert "did not ask for P020" in tools.run("add_to_cart", {"product_id": "P020"}, t)["error"]
    t = turn("remove the tent from my cart", focus=[])  # the cart holds a tent and a headlamp
    assert "did not ask for P019" in tools.run("remove_from_cart", {"product_id": "P019"}, t)["error"]
    t = turn("remove the headlamp from my cart", focus=[])
    assert tools.run("remove_from_cart", {"product_id": "P019"}, t)["removed"] == {"id": "P019"}
    cart = tools.run("view_cart", {}, turn("cart?"))["cart"]
    assert [(line["id"], line["quantity"]) for line in cart["lines"]] == [("P005", 2)]
    assert cart["total"] == 258.0  # 2 x 129.00, shipping free from 75
    t = turn("add 99 of P001 to my cart")
    assert (
        "only 14 of P001 in stock"
        in tools.run("add_to_cart", {"product_id": "P001", "quantity": 99}, t)["error"]
    )
