"""Per-session state of the shopping assistant: the cart and a short conversation history.

It lives in the app's own SQLite file (``<home>/shopping.db``), not in the gateway, so a gateway
that is down or throttling never loses a cart: the cart is written before any model call and only
by code (``add`` / ``remove``), never by the model. Totals are computed here in cents from the
catalog's prices and :class:`ShippingRule` (the numbers of the store's shipping policy).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from applications.shopping.catalog import Catalog

MAX_QUANTITY = 10  # per cart line: a guard against runaway tool calls as much as a store rule
HISTORY_TURNS = 6

SCHEMA = """
CREATE TABLE IF NOT EXISTS cart_lines (
    session_id TEXT NOT NULL, product_id TEXT NOT NULL, quantity INTEGER NOT NULL,
    PRIMARY KEY (session_id, product_id));
CREATE TABLE IF NOT EXISTS session_turns (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS session_focus (session_id TEXT PRIMARY KEY, product_ids TEXT NOT NULL);
"""


@dataclass(frozen=True)
class ShippingRule:
    """Standard shipping: a flat fee per order, free from a subtotal (the store's policy)."""

    flat_cents: int = 599
    free_from_cents: int = 7500

    def shipping_cents(self, subtotal_cents: int) -> int:
        if subtotal_cents == 0 or subtotal_cents >= self.free_from_cents:
            return 0
        return self.flat_cents


class CartError(ValueError):
    """A cart change that cannot be made (unknown product, out of stock, bad quantity)."""


def _cents(price: float) -> int:
    return round(price * 100)


def _dollars(cents: int) -> float:
    return round(cents / 100, 2)


class SessionStore:
    """Carts, recent turns and the products in focus, per session id, in one SQLite file."""

    def __init__(self, path: str | Path, shipping: ShippingRule | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.shipping = shipping or ShippingRule()
        self._lock = threading.Lock()
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # one short connection per operation: the CLI, the web app's threads and tests share the file
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def _quantity(self, db: sqlite3.Connection, session_id: str, product_id: str) -> int:
        row = db.execute(
            "SELECT quantity FROM cart_lines WHERE session_id=? AND product_id=?", (session_id, product_id)
        ).fetchone()
        return int(row[0]) if row else 0

    def add(self, session_id: str, catalog: Catalog, product_id: str, quantity: int = 1) -> dict[str, Any]:
        product = catalog.get(product_id)
        if product is None:
            raise CartError(f"no product with id {product_id!r}")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise CartError("quantity must be a whole number of at least 1")
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            new = self._quantity(db, session_id, product.id) + quantity
            if new > min(product.stock, MAX_QUANTITY):
                db.execute("ROLLBACK")
                if new > product.stock:
                    raise CartError(f"only {product.stock} of {product.id} in stock")
                raise CartError(f"at most {MAX_QUANTITY} of one product per order")
            db.execute(
                "INSERT INTO cart_lines VALUES (?, ?, ?) ON CONFLICT (session_id, product_id) "
                "DO UPDATE SET quantity = excluded.quantity",
                (session_id, product.id, new),
            )
            db.execute("COMMIT")
        return self.view(session_id, catalog)

    def remove(
        self, session_id: str, catalog: Catalog, product_id: str, quantity: int | None = None
    ) -> dict[str, Any]:
        """Remove ``quantity`` of a product (all of it when ``None``)."""
        product = catalog.get(product_id)
        key = product.id if product else str(product_id)
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            have = self._quantity(db, session_id, key)
            if have == 0:
                db.execute("ROLLBACK")
                raise CartError(f"{key} is not in the cart")
            left = 0 if quantity is None else max(0, have - max(1, int(quantity)))
            if left:
                db.execute(
                    "UPDATE cart_lines SET quantity=? WHERE session_id=? AND product_id=?",
                    (left, session_id, key),
                )
            else:
                db.execute("DELETE FROM cart_lines WHERE session_id=? AND product_id=?", (session_id, key))
            db.execute("COMMIT")
        return self.view(session_id, catalog)

    def view(self, session_id: str, catalog: Catalog) -> dict[str, Any]:
        """The cart with line totals, subtotal, shipping and total, all computed from the catalog."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT product_id, quantity FROM cart_lines WHERE session_id=? ORDER BY product_id",
                (session_id,),
            ).fetchall()
        lines, subtotal = [], 0
        for product_id, quantity in rows:
            product = catalog.get(product_id)
            if product is None:  # the catalog was reloaded without it: show it, price unknown
                lines.append({"id": product_id, "name": "(no longer in the catalog)", "quantity": quantity})
                continue
            line = _cents(product.price) * quantity
            subtotal += line
            lines.append(
                {
                    "id": product.id,
                    "name": product.name,
                    "quantity": quantity,
                    "unit_price": product.price,
                    "line_total": _dollars(line),
                }
            )
        shipping = self.shipping.shipping_cents(subtotal)
        return {
            "lines": lines,
            "items": sum(int(line["quantity"]) for line in lines),
            "subtotal": _dollars(subtotal),
            "shipping": _dollars(shipping),
            "total": _dollars(subtotal + shipping),
            "currency": "USD",
        }

    def history(self, session_id: str) -> list[tuple[str, str]]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT role, text FROM session_turns WHERE session_id=? ORDER BY seq DESC LIMIT ?",
                (session_id, HISTORY_TURNS * 2),
            ).fetchall()
        return [(r, t) for r, t in reversed(rows)]

    def record_turn(self, session_id: str, user: str, assistant: str) -> None:
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT MAX(seq) FROM session_turns WHERE session_id=?", (session_id,)
            ).fetchone()
            seq = (row[0] or 0) + 1
            db.execute("INSERT INTO session_turns VALUES (?, ?, 'user', ?)", (session_id, seq, user))
            db.execute(
                "INSERT INTO session_turns VALUES (?, ?, 'assistant', ?)", (session_id, seq + 1, assistant)
            )
            db.execute("COMMIT")

    def focus(self, session_id: str) -> list[str]:
        """The products the last answer was about (what "it" or "the first one" refers to)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT product_ids FROM session_focus WHERE session_id=?", (session_id,)
            ).fetchone()
        return list(json.loads(row[0])) if row else []

    def set_focus(self, session_id: str, product_ids: list[str]) -> None:
        with self._lock, self._connect() as db:
            db.execute(
                "INSERT INTO session_focus VALUES (?, ?) ON CONFLICT (session_id) "
                "DO UPDATE SET product_ids = excluded.product_ids",
                (session_id, json.dumps(product_ids[:10])),
            )
