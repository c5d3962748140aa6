"""The world of bench/agents.py: a small outdoor shop, its action-group handlers, and the checks.

One :data:`WORLD` (reset before each task) holds the catalog, the cart, orders and payments. The
agent reaches it through Bedrock-shaped Lambda handlers registered with the gateway
(``STRATA_AGENTS_FUNCTIONS``: :func:`catalog_handler`, :func:`cart_handler`, :func:`orders_handler`)
and a RETURN_CONTROL action group the bench answers itself (:meth:`World.charge`); the LangChain
baseline reaches the same world directly (``agent_paths.call_world``). A task
succeeds when the world ends in its expected state (:func:`check`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CATALOG = {
    "P-100": {"name": "Alpine 2 tent", "kind": "tent", "price": 189, "stock": 5},
    "P-101": {"name": "Ridge 3 tent", "kind": "tent", "price": 249, "stock": 2},
    "P-102": {"name": "Bivy 1 tent", "kind": "tent", "price": 129, "stock": 0},
    "P-200": {"name": "Trail stove", "kind": "stove", "price": 59, "stock": 10},
    "P-201": {"name": "Jet stove", "kind": "stove", "price": 89, "stock": 3},
    "P-300": {"name": "Down sleeping bag", "kind": "sleeping bag", "price": 219, "stock": 4},
    "P-301": {"name": "Synthetic sleeping bag", "kind": "sleeping bag", "price": 119, "stock": 7},
    "P-400": {"name": "Headlamp 300", "kind": "headlamp", "price": 35, "stock": 20},
    "P-500": {"name": "Water filter", "kind": "water filter", "price": 45, "stock": 6},
}
EXPRESS = 15


def _orders() -> dict[str, dict[str, Any]]:
    return {
        "O-1001": {"status": "processing", "items": {"P-200": 1}, "total": 59, "shipping": "standard"},
        "O-1002": {"status": "shipped", "items": {"P-100": 1}, "total": 189, "shipping": "standard"},
        "O-1003": {"status": "delivered", "items": {"P-400": 2}, "total": 70, "shipping": "standard"},
        "O-1004": {"status": "awaiting payment", "items": {"P-500": 1}, "total": 45, "shipping": "standard"},
    }


@dataclass
class World:
    cart: dict[str, int] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=_orders)
    new_orders: list[str] = field(default_factory=list)
    retrieved: list[str] = field(default_factory=list)  # passages the knowledge base returned

    def reset(self, setup: dict[str, Any] | None = None) -> None:
        self.cart = dict((setup or {}).get("cart", {}))
        self.orders, self.new_orders, self.retrieved = _orders(), [], []

    # --- catalog ---------------------------------------------------------------------------------

    def search_products(self, query: str) -> list[dict[str, Any]]:
        words = [w for w in query.lower().replace("-", " ").split() if w not in ("a", "the", "an")]
        hits = []
        for pid, p in CATALOG.items():
            text = f"{p['name']} {p['kind']}".lower()
            if any(w.rstrip("s") in text for w in words):
                hits.append(
                    {"product_id": pid, "name": p["name"], "price": p["price"], "in_stock": p["stock"] > 0}
                )
        return hits

    def get_product(self, product_id: str) -> dict[str, Any]:
        p = CATALOG.get(product_id)
        if p is None:
            return {"error": f"no product {product_id}"}
        return {"product_id": product_id, **p, "in_stock": p["stock"] > 0}

    # --- cart ------------------------------------------------------------------------------------

    def add_to_cart(self, product_id: str, quantity: int) -> dict[str, Any]:
        p = CATALOG.get(product_id)
        if p is None:
            return {"error": f"no product {product_id}"}
        if quantity < 1 or self.cart.get(product_id, 0) + quantity > p["stock"]:
            return {"error": f"only {p['stock']} of {p['name']} in stock"}
        self.cart[product_id] = self.cart.get(product_id, 0) + quantity
        return {"cart": self.view_cart()}

    def remove_from_cart(self, product_id: str) -> dict[str, Any]:
        if product_id not in self.cart:
            return {"error": f"{product_id} is not in the cart"}
        del self.cart[product_id]
        return {"cart": self.view_cart()}

    def view_cart(self) -> dict[str, Any]:
        items = [{"product_id": k, "name": CATALOG[k]["name"], "quantity": q} for k, q in self.cart.items()]
        total = sum(CATALOG[k]["price"] * q for k, q in self.cart.items())
        return {"items": items, "total": total}

    # --- orders and payments ---------------------------------------------------------------------

    def get_order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            return {"error": f"no order {order_id}"}
        items = [{"name": CATALOG[k]["name"], "quantity": q} for k, q in order["items"].items()]
        return {"orderId": order_id, "status": order["status"], "items": items, "total": order["total"]}

    def create_order(self, shipping_speed: str) -> dict[str, Any]:
        if not self.cart:
            return {"error": "the cart is empty"}
        total = sum(CATALOG[k]["price"] * q for k, q in self.cart.items())
        total += EXPRESS if shipping_speed == "express" else 0
        order_id = f"O-{2001 + len(self.new_orders)}"
        self.orders[order_id] = {
            "status": "awaiting payment",
            "items": dict(self.cart),
            "total": total,
            "shipping": shipping_speed,
        }
        self.new_orders.append(order_id)
        self.cart = {}
        return {"orderId": order_id, "status": "awaiting payment", "total": total}

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            return {"error": f"no order {order_id}"}
        if order["status"] in ("shipped", "delivered"):
            return {"error": f"order {order_id} has {order['status']} and cannot be cancelled"}
        order["status"] = "cancelled"
        return {"orderId": order_id, "status": "cancelled"}

    def charge(self, order_id: str, amount: float) -> dict[str, Any]:
        """The payment the client makes itself (the RETURN_CONTROL action group)."""
        order = self.orders.get(order_id)
        if order is None:
            return {"error": f"no order {order_id}"}
        if order["status"] != "awaiting payment":
            return {"error": f"order {order_id} is {order['status']}"}
        if abs(float(amount) - order["total"]) > 0.005:
            return {"error": f"declined: order {order_id} totals {order['total']}, not {amount}"}
        order["status"] = "paid"
        return {"orderId": order_id, "status": "paid", "charged": order["total"]}


WORLD = World()


# --- Bedrock Lambda handlers ---------------------------------------------------------------------


def _params(event: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in event.get("parameters", [])}


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def _function_response(event: dict[str, Any], result: Any) -> dict[str, Any]:
    body = {"TEXT": {"body": json.dumps(result)}}
    response = {
        "actionGroup": event["actionGroup"],
        "function": event["function"],
        "functionResponse": {"responseBody": body},
    }
    return {"messageVersion": "1.0", "response": response}


def catalog_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    params = _params(event)
    if event["function"] == "search_products":
        result: Any = WORLD.search_products(params.get("query", ""))
    else:
        result = WORLD.get_product(params.get("product_id", ""))
    return _function_response(event, result)


def cart_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    params = _params(event)
    name = event["function"]
    if name == "add_to_cart":
        result = WORLD.add_to_cart(params.get("product_id", ""), _int(params.get("quantity", 1)))
    elif name == "remove_from_cart":
        result = WORLD.remove_from_cart(params.get("product_id", ""))
    else:
        result = WORLD.view_cart()
    return _function_response(event, result)


def orders_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    params = _params(event)
    path, verb = event["apiPath"], event["httpMethod"]
    if path == "/orders" and verb == "POST":
        props = (
            event.get("requestBody", {}).get("content", {}).get("application/json", {}).get("properties", [])
        )
        body = {p["name"]: p["value"] for p in props}
        result = WORLD.create_order(body.get("shippingSpeed", "standard"))
    elif path.endswith("/cancel"):
        result = WORLD.cancel_order(params.get("orderId", ""))
    else:
        result = WORLD.get_order(params.get("orderId", ""))
    response = {
        "actionGroup": event["actionGroup"],
        "apiPath": path,
        "httpMethod": verb,
        "httpStatusCode": 400 if "error" in result else 200,
        "responseBody": {"application/json": {"body": json.dumps(result)}},
    }
    return {"messageVersion": "1.0", "response": response}


# --- what a task must end with ---------------------------------------------------------------


def check(task: dict[str, Any], answer: str) -> list[str]:
    """The task's unmet expectations (empty: success)."""
    expect, problems = task["check"], []
    if "cart" in expect and WORLD.cart != expect["cart"]:
        problems.append(f"cart is {WORLD.cart}, expected {expect['cart']}")
    for order_id, status in expect.get("orders", {}).items():
        if WORLD.orders[order_id]["status"] != status:
            problems.append(f"{order_id} is {WORLD.orders[order_id]['status']}, expected {status}")
    wanted = expect.get("new_orders", [])
    made = [WORLD.orders[o] for o in WORLD.new_orders]
    if len(made) != len(wanted):
        problems.append(f"{len(made)} new orders, expected {len(wanted)}")
    for order, want in zip(made, wanted, strict=False):
        paid = order["status"] == "paid"
        if order["items"] != want["items"] or order["shipping"] != want["shipping"] or paid != want["paid"]:
            problems.append(f"new order {order} does not match {want}")
    lowered = answer.lower()
    problems += [f"answer lacks {s!r}" for s in expect.get("answer_contains", []) if s.lower() not in lowered]
    seen = " ".join(WORLD.retrieved).lower()
    problems += [
        f"no retrieved passage has {s!r}"
        for s in expect.get("retrieved_contains", [])
        if s.lower() not in seen
    ]
    return problems
