"""Cart arithmetic and persistence: totals in cents from the catalog, shipping by the store's rule."""

from __future__ import annotations

import threading

import pytest

from applications.shopping.catalog import load_catalog
from applications.shopping.loader import DEMO_CATALOG
from applications.shopping.sessions import MAX_QUANTITY, CartError, SessionStore


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(DEMO_CATALOG)


def test_totals_and_the_free_shipping_threshold(tmp_path, catalog):
    store = SessionStore(tmp_path / "shop.db")
    cart = store.add("s", catalog, "P056")  # 22.00
    assert cart["subtotal"] == 22.0 and cart["shipping"] == 5.99 and cart["total"] == 27.99
    cart = store.add("s", catalog, "P033", 2)  # + 2 x 15.00
    assert cart["subtotal"] == 52.0 and cart["total"] == 57.99 and cart["items"] == 3
    cart = store.add("s", catalog, "P059")  # + 29.00 = 81.00: free shipping from 75
    assert cart["subtotal"] == 81.0 and cart["shipping"] == 0.0 and cart["total"] == 81.0
    cart = store.remove("s", catalog, "P033", 1)
    assert cart["subtotal"] == 66.0 and cart["shipping"] == 5.99 and cart["total"] == 71.99
    assert [(line["id"], line["quantity"], line["line_total"]) for line in cart["lines"]] == [
        ("P033", 1, 15.0),
        ("P056", 1, 22.0),
        ("P059", 1, 29.0),
    ]
    cart = store.remove("s", catalog, "p056")  # all of it; ids case-insensitive
    assert [line["id"] for line in cart["lines"]] == ["P033", "P059"]


def test_exactly_the_threshold_ships_free(tmp_path, catalog):
    store = SessionStore(tmp_path / "shop.db")
    store.add("s", catalog, "P030")  # 29.00
    cart = store.add("s", catalog, "P021")  # 24.00 -> 53.00
    assert cart["shipping"] == 5.99 and cart["total"] == 58.99
    cart = store.add("s", catalog, "P056")  # 22.00 -> exactly 75.00
    assert cart["subtotal"] == 75.0 and cart["shipping"] == 0.0 and cart["total"] == 75.0


def test_bad_changes_are_refused_and_change_nothing(tmp_path, catalog):
    store = SessionStore(tmp_path / "shop.db")
    store.add("s", catalog, "P009", 2)  # stock 2
    with pytest.raises(CartError, match="only 2 of P009 in stock"):
        store.add("s", catalog, "P009")
    with pytest.raises(CartError, match="no product"):
        store.add("s", catalog, "P999")
    with pytest.raises(CartError, match="at least 1"):
        store.add("s", catalog, "P001", 0)
    with pytest.raises(CartError, match=f"at most {MAX_QUANTITY}"):
        store.add("s", catalog, "P033", MAX_QUANTITY + 1)
    with pytest.raises(CartError, match="not in the cart"):
        store.remove("s", catalog, "P001")
    assert [(line["id"], line["quantity"]) for line in store.view("s", catalog)["lines"]] == [("P009", 2)]


def test_carts_are_per_session_and_survive_a_restart(tmp_path, catalog):
    SessionStore(tmp_path / "shop.db").add("alice", catalog, "P001")
    reopened = SessionStore(tmp_path / "shop.db")
    assert reopened.view("alice", catalog)["items"] == 1
    assert reopened.view("bob", catalog)["items"] == 0


def test_concurrent_adds_lose_nothing(tmp_path, catalog):
    store = SessionStore(tmp_path / "shop.db")
    errors = []

    def add() -> None:
        try:
            SessionStore(tmp_path / "shop.db").add("s", catalog, "P032")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert store.view("s", catalog)["lines"][0]["quantity"] == 8
