"""Cart requests carried out by code from the shopper's words (the "prefetch" planner's cart path).

A model too small to choose tools cannot be trusted to turn "add two of the steel bottles" into
``add_to_cart(P032, 2)``, so in prefetch mode the app reads the request itself:

- the action: add (``add``/``put``/``buy``/``order``… at the start, or "… to my cart"), remove
  (``remove``/``delete``/``take out``… or "… from my cart"), empty the cart, or view it ("what's in
  my cart", "my total");
- the products: the request is split on "and" / commas, and each part must name exactly one
  product — by id, by the distinctive words of its name, by "it" when the previous answer was
  about one product, or (to remove) by any word of a product in the cart ("remove the tent");
- the quantity: a number or number word right after the verb ("add two of the…", "put 3…").

A part that names no product or several is a question back (with the likely candidates), never a
guess, and nothing in the cart changes in that turn. Only the shopper's own words are read here —
catalog text never is — and every change still goes through the cart tools' own checks.
The reply (what changed, the cart and its total) is written here from the tool results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from applications.shopping.tools import NUMBER_WORDS, ShopTools, Turn, words

SPLIT_RE = re.compile(r"(?i),|;|&|\band\b|\bplus\b")  # not "or": "add X or Y" is a question back

_LEAD = r"^\W*(?:(?:please|also|and|then|now|actually|ok(?:ay)?|great|yes|so|oh)\W+)*"
_ASK = r"(?:(?:can|could|would|will) you\s+(?:please\s+)?|i'?d like to\s+|i want to\s+|let'?s\s+)?"
_CART = r"(?:my|the)\s+(?:shopping\s+)?(?:cart|basket)"
ADD_RE = re.compile(
    rf"(?i){_LEAD}{_ASK}(?:add|put|throw|buy|order|get me|i'?ll take)\b"
    rf"|\b(?:add|put)\b.*\b(?:to|in|into)\s+{_CART}"
)
REMOVE_RE = re.compile(
    rf"(?i){_LEAD}{_ASK}(?:remove|delete|take out|take off|drop)\b"
    rf"|\b(?:remove|delete|take)\b.*\b(?:from|out of|off)\s+{_CART}"
)
EMPTY_RE = re.compile(
    rf"(?i)\b(?:empty|clear)\s+(?:out\s+)?{_CART}"
    r"|\b(?:remove|delete|take out)\s+(?:everything|all(?: the items| items| of it| of them)?)(?:\W|$)"
)
VIEW_RE = re.compile(
    rf"(?i)\b(?:what'?s|what is|what are|show(?: me)?|view|see|check|open)\b[^.?!]*\b(?:in\s+)?{_CART}"
    r"|\bmy (?:cart |basket |order )?total\b|\bhow much (?:is|does) (?:my|the) (?:cart|basket|order)\b"
)
VERB_RE = re.compile(
    r"(?i)\b(?:add|put|throw|buy|order|get me|i'?ll take|remove|delete|take out|take off|drop|take)\b\s*"
)
TAIL_RE = re.compile(
    rf"(?i)\b(?:to|in|into|from|out of|off)\s+{_CART}.*$|\b(?:too|as well|also|please|for me|instead)\b"
)
QUANTITY_RE = re.compile(
    r"(?i)^\s*(?:(\d+)|(a pair of|a couple of|a|an|one|" + "|".join(NUMBER_WORDS) + r"))\s+(?:of\s+)?"
)
PRONOUN_RE = re.compile(
    r"(?i)^\s*(?:the\s+)?(?:it|that|this|them|those|these|one|another|one more)(?:\s+one)?\s*$"
)


@dataclass
class CartPlan:
    """What the app does for a cart request: tool calls to make, or a question to ask back."""

    action: str  # "add", "remove", "view"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


def cart_action(text: str) -> str | None:
    """ "add", "remove", "empty", "view" or None: what the shopper's message asks of the cart."""
    if EMPTY_RE.search(text):
        return "empty"
    if REMOVE_RE.search(text):
        return "remove"
    if ADD_RE.search(text):
        return "add"
    if VIEW_RE.search(text):
        return "view"
    return None


def _quantity(part: str) -> tuple[int | None, str]:
    """The quantity stated at the start of a part, and the rest of it."""
    match = QUANTITY_RE.match(part)
    if match is None:
        return None, part
    if match.group(1):
        return int(match.group(1)), part[match.end() :]
    word = match.group(2).lower()
    ones = {"a pair of": 2, "a couple of": 2, "a": 1, "an": 1, "one": 1}
    return ones.get(word, NUMBER_WORDS.get(word)), part[match.end() :]


def _parts(text: str) -> list[str]:
    """The product phrases of a request: after the verb, before "to my cart", split on "and"."""
    verb = VERB_RE.search(text)
    body = text[verb.end() :] if verb else text
    body = TAIL_RE.sub(" ", re.split(r"[?!]|\.(?:\s|$)", body)[0])  # one request: the first sentence
    return [p.strip(" !.?") for p in SPLIT_RE.split(body) if words(p) or PRONOUN_RE.match(p or "-")]


def _label(tools: ShopTools, pid: str) -> str:
    product = tools.catalog.get(pid)
    return f"{product.name} [{pid}]" if product else pid


def _choices(tools: ShopTools, ids: list[str]) -> str:
    labels = [_label(tools, i) for i in ids]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


class CartPlanner:
    """Reads one cart request against the catalog, the cart and the previous answer's products."""

    def __init__(self, tools: ShopTools, turn: Turn) -> None:
        self.tools, self.turn = tools, turn
        self.cart = tools.sessions.view(turn.session_id, tools.catalog)
        self.in_cart = [line["id"] for line in self.cart["lines"]]

    def plan(self, action: str) -> CartPlan:
        if action == "view":
            return CartPlan("view", [("view_cart", {})])
        if action == "empty":
            return CartPlan("remove", [("remove_from_cart", {"product_id": pid}) for pid in self.in_cart])
        plan = CartPlan(action)
        if action == "remove" and not self.in_cart:
            plan.questions.append("Your cart is empty: there is nothing to remove.")
            return plan
        parts = _parts(self.turn.user_text)
        if not parts:
            plan.questions.append(f"Which product would you like to {action}?")
        for part in parts:
            quantity, phrase = _quantity(part)
            pid = self._resolve(action, phrase or part, plan)
            if pid is None:
                continue
            args: dict[str, Any] = {"product_id": pid}
            if quantity is not None:
                args["quantity"] = quantity
            plan.calls.append((f"{action}_to_cart" if action == "add" else "remove_from_cart", args))
        if plan.questions:
            plan.calls = []  # one unclear part: ask first, change nothing
        return plan

    def _resolve(self, action: str, phrase: str, plan: CartPlan) -> str | None:
        """The one product a phrase names, or None with a question added to the plan."""
        if PRONOUN_RE.match(phrase) or not words(phrase):
            pool = [p for p in self.turn.focus if action == "add" or p in self.in_cart]
            if action == "remove" and not pool:
                pool = self.in_cart
            return self._one(pool, phrase, plan, action)
        named = self.tools.named_products(phrase)
        if action == "remove":
            named = [p for p in named if p in self.in_cart] or self._matching(self.in_cart, phrase)
            if not named:
                where = f"Your cart has {_choices(self.tools, self.in_cart)}." if self.in_cart else ""
                plan.questions.append(f'"{phrase}" is not in your cart. {where}'.strip())
                return None
        if not named:  # "add the tent" after an answer about one tent: that one
            named = self._matching(self.turn.focus, phrase)
        if not named:
            return self._unknown(phrase, plan)
        return self._one(named, phrase, plan, action)

    def _matching(self, ids: list[str], phrase: str) -> list[str]:
        """Those of ``ids`` sharing a word with the phrase, the category included ("the tent")."""
        said = words(phrase) | {w.rstrip("s") for w in words(phrase)}
        hits = []
        for pid in ids:
            product = self.tools.catalog.get(pid)
            if product is None:
                continue
            have = words(f"{product.name} {product.category}")
            if said & (have | {w.rstrip("s") for w in have}):
                hits.append(pid)
        return hits

    def _one(self, ids: list[str], phrase: str, plan: CartPlan, action: str) -> str | None:
        if len(ids) == 1:
            return ids[0]
        if not ids:
            plan.questions.append(f"Which product would you like to {action}?")
        else:
            plan.questions.append(f"Which one do you mean: {_choices(self.tools, ids[:4])}?")
        return None

    def _unknown(self, phrase: str, plan: CartPlan) -> None:
        found = self.tools.run("search_products", {"query": phrase, "limit": 3}, self.turn)
        ids = [r["id"] for r in found.get("results", [])]
        hint = f" Did you mean {_choices(self.tools, ids)}?" if ids else ""
        plan.questions.append(f'I couldn\'t find "{phrase}" in the catalog.{hint}')
        return None


def _money(value: Any) -> str:
    return f"${float(value):.2f}"


def cart_summary(cart: dict[str, Any]) -> str:
    if not cart["lines"]:
        return "Your cart is empty."
    lines = "; ".join(
        f"{line['quantity']} × {line['name']} [{line['id']}]"
        + (f" at {_money(line['unit_price'])}" if "unit_price" in line else "")
        for line in cart["lines"]
    )
    return (
        f"Your cart: {lines}. Subtotal {_money(cart['subtotal'])}, shipping {_money(cart['shipping'])}, "
        f"total {_money(cart['total'])}."
    )


def cart_reply(
    tools: ShopTools, plan: CartPlan, results: list[tuple[str, dict[str, Any]]], cart: dict[str, Any]
) -> str:
    """What the assistant says after a cart request: each change (or why not), then the cart."""
    if plan.questions:
        return " ".join(plan.questions) + " Nothing in your cart changed."
    said = []
    for name, result in results:
        if "added" in result:
            said.append(f"Added {result['added']['quantity']} × {_label(tools, result['added']['id'])}.")
        elif "removed" in result:
            count = result["removed"].get("quantity")
            said.append(f"Removed {f'{count} × ' if count else ''}{_label(tools, result['removed']['id'])}.")
        elif "error" in result:
            verb = {"add_to_cart": "add that", "remove_from_cart": "remove that"}.get(name, "do that")
            said.append(f"I couldn't {verb}: {result['error']}.")
    return " ".join([*said, cart_summary(cart)])
