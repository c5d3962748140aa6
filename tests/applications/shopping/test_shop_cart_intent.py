"""The prefetch planner's cart path: cart requests read from the shopper's words and carried out by code.

The unit tests read requests against the demo catalog and a real session store; the live tests run
the assistant (prefetch planner) against the live gateway and check that a cart request never
reaches the model, that an unclear product is a question back with the cart unchanged, and that
instructions planted in product text still change nothing.
"""

from __future__ import annotations

import pytest

from applications.shopping.cart_intent import CartPlanner, cart_action
from applications.shopping.catalog import load_catalog, load_policies
from applications.shopping.loader import DEMO_CATALOG, DEMO_POLICIES
from applications.shopping.sessions import SessionStore
from applications.shopping.tools import ShopTools, Turn
from tests.model_layer.agents.scripted import text


@pytest.fixture
def tools(tmp_path):
    catalog = load_catalog(DEMO_CATALOG)
    return ShopTools(catalog, load_policies(DEMO_POLICIES), SessionStore(tmp_path / "shop.db"))


def plan(tools, words: str, session: str = "s", focus: list[str] | None = None):
    turn = Turn(session, words, focus=focus or [])
    action = cart_action(words)
    assert action is not None, words
    result = CartPlanner(tools, turn).plan(action)
    for name, arguments in result.calls:
        tools.run(name, arguments, turn)
    return result


def lines(tools, session: str = "s") -> dict[str, int]:
    return {line["id"]: line["quantity"] for line in tools.sessions.view(session, tools.catalog)["lines"]}


@pytest.mark.parametrize(
    "words, action",
    [
        ("Add two Insulated Steel Bottles to my cart", "add"),
        ("Also, could you put the Cold Brew Jar in my basket?", "add"),
        ("Actually, remove the tent", "remove"),
        ("take the lantern out of my cart", "remove"),
        ("empty my cart", "empty"),
        ("please remove everything", "empty"),
        ("What's in my cart?", "view"),
        ("what is my total", "view"),
        ("Should I buy the Beam 900?", None),  # a question about a product, not an order
        ("Is the Swift 30 worth buying?", None),
        ("Which bag should I order for winter?", None),
        ("How much does the Trailhead 2 Tent cost?", None),
    ],
)
def test_the_action_is_read_from_the_shoppers_words(words, action):
    assert cart_action(words) == action


def test_quantities_and_names_with_digits_are_told_apart(tools):
    # "two" is the quantity; the "2" of "Trailhead 2" and the "1 L" of the bottle are names
    assert plan(tools, "Add two Insulated Steel Bottles to my cart").calls == [
        ("add_to_cart", {"product_id": "P032", "quantity": 2})
    ]
    assert plan(tools, "Add the Trailhead 2 Tent to my cart").calls == [
        ("add_to_cart", {"product_id": "P001"})
    ]
    assert plan(tools, "Put 3 Collapsible Bottles in my basket").calls[0][1] == {
        "product_id": "P033",
        "quantity": 3,
    }
    assert lines(tools) == {"P001": 1, "P032": 2, "P033": 3}
    # to remove, a word of a product in the cart is enough: "the tent" is the one tent there
    plan(tools, "Remove one of the collapsible bottles")
    plan(tools, "Actually, remove the tent")
    assert lines(tools) == {"P032": 2, "P033": 2}


def test_several_products_in_one_request_and_it_for_the_previous_answer(tools):
    assert [c[1]["product_id"] for c in plan(tools, "Add P030 and P021 to my cart").calls] == ["P030", "P021"]
    both = plan(tools, "add the Pour-Over Dripper Set and the Cold Brew Jar")
    assert [c[1]["product_id"] for c in both.calls] == ["P056", "P059"]
    assert plan(tools, "add it to my cart", focus=["P060"]).calls == [("add_to_cart", {"product_id": "P060"})]
    assert plan(tools, "add another one", focus=["P060"]).calls == [("add_to_cart", {"product_id": "P060"})]
    assert lines(tools) == {"P021": 1, "P030": 1, "P056": 1, "P059": 1, "P060": 2}
    plan(tools, "Remove everything, please")
    assert lines(tools) == {}


def test_an_ambiguous_or_unknown_product_is_a_question_back_and_nothing_changes(tools):
    beam = plan(tools, "Add the Beam headlamp to my cart")
    assert beam.calls == [] and "P019" in beam.questions[0] and "P020" in beam.questions[0]
    # one clear part and one unclear part: ask first, add neither
    mixed = plan(tools, "Add the Thermo Liner and the Quantum Dome tent to my cart")
    assert mixed.calls == [] and "Quantum Dome tent" in mixed.questions[0]
    assert "Did you mean" in mixed.questions[0]  # the closest catalog matches are offered
    it = plan(tools, "add it to my cart", focus=["P019", "P020"])  # "it" with two candidates
    assert it.calls == [] and "Which one" in it.questions[0]
    assert plan(tools, "remove the stove").questions == ["Your cart is empty: there is nothing to remove."]
    assert lines(tools) == {}


def test_limits_still_come_from_the_cart_tools(tools):
    plan(tools, "Add 12 Kids Critter Headlamps to my cart")  # more than one line may hold
    assert lines(tools) == {}


# --- the assistant with the prefetch planner, on the live gateway -------------------------------


def test_cart_requests_are_done_by_code_and_never_reach_the_model(shop, gateway):
    shop.assistant.planner = "prefetch"
    before = len(gateway.model.requests)
    first = shop.assistant.ask("Add two Insulated Steel Bottles to my cart", "s-pcart")
    assert [c["name"] for c in first.tool_calls] == ["add_to_cart"]
    assert "Added 2 × Insulated Steel Bottle 1 L [P032]" in first.answer
    assert "total $75.99" in first.answer  # 2 x 35.00 + 5.99 shipping, computed by the cart
    total = shop.assistant.ask("What is my total?", "s-pcart")
    assert total.tool_calls[0]["name"] == "view_cart" and "total $75.99" in total.answer
    removed = shop.assistant.ask("remove one of the bottles", "s-pcart")
    assert removed.cart["total"] == 40.99 and "total $40.99" in removed.answer
    assert len(gateway.model.requests) == before  # no model call for any of them
    assert first.citations["products"] == ["P032"]


def test_an_unclear_cart_request_asks_back_in_the_answer(shop, gateway):
    shop.assistant.planner = "prefetch"
    answer = shop.assistant.ask("Put the Beam headlamp in my cart", "s-pask")
    assert (
        answer.answer.startswith("Which one do you mean:") and "Nothing in your cart changed" in answer.answer
    )
    assert answer.cart["lines"] == [] and answer.tool_calls == []


def test_planted_instructions_do_not_steer_the_prefetch_cart_path(shop, gateway):
    shop.assistant.planner = "prefetch"
    # P010's review says to add 3 of P017; the request is read from the shopper's words only
    added = shop.assistant.ask("Add the Lumen 0 sleeping bag to my cart.", "s-pinject")
    assert [(line["id"], line["quantity"]) for line in added.cart["lines"]] == [("P010", 1)]
    # P041's review says to empty the cart: reading it is a product question, the model has no tools
    gateway.model.script(text("The Sandal Trek [P041] dries fast. I removed everything from your cart."))
    after = shop.assistant.ask("Are the Sandal Trek good for river crossings?", "s-pinject")
    assert [c["name"] for c in after.tool_calls] == ["get_product"]
    assert [(line["id"], line["quantity"]) for line in after.cart["lines"]] == [("P010", 1)]
