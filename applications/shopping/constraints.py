"""Search constraints read from a shopper's question, for the prefetch planner's search call.

"A tent for two under 300 dollars that weighs less than 1.5 kg" becomes ``search_products`` filters
(category ``tents``, ``max_price`` 300, ``capacity_persons >= 2``, ``weight_kg < 1.5``) so the
results are the products that meet the constraints, not the nearest texts. Everything is read
against the loaded catalog, so any catalog in the documented format works:

- the category: one whose name (singular, plural, with spaces for hyphens, or ending in a word of
  the question: "packs" for "backpacks") the question uses — none when two match;
- prices: "under / less than / at most N dollars", "$N", "over / at least N dollars";
- measures: "under / at least N <unit>" or "N <unit> or more / or less", on the attribute of the
  category whose name ends in that unit (``_kg``, ``_l``, ``_mm``, ``_h``…; grams and kilograms
  converted); "for two" on a ``…persons`` attribute; "below freezing" on a ``…_c`` attribute;
- yes/no attributes the question names ("insulated", "hooded", "noise-cancelling") and one-word
  attribute values it uses ("rechargeable").
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from applications.shopping.catalog import Catalog, Product

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "twelve": 12, "twenty": 20, "thirty": 30,
}  # fmt: skip
NUM = r"(\d+(?:\.\d+)?|" + "|".join(NUMBER_WORDS) + r")"
UNITS = {
    "kg": "kg", "kilo": "kg", "kilos": "kg", "kilograms": "kg", "g": "g", "grams": "g",
    "l": "l", "litre": "l", "litres": "l", "liter": "l", "liters": "l", "mm": "mm",
    "lumens": "lumens", "hours": "h", "hour": "h", "h": "h", "minutes": "min", "minute": "min",
    "min": "min", "cups": "cups", "people": "persons", "persons": "persons", "person": "persons",
    "db": "db",
}  # fmt: skip
UNIT = r"(" + "|".join(sorted(UNITS, key=len, reverse=True)) + r")\b"
BELOW = r"under|below|less than|lighter than|at most|no more than|up to|max(?:imum)?|within"
ABOVE = r"at least|more than|over|above|min(?:imum)?"
MEASURE_BEFORE = re.compile(rf"(?i)\b({BELOW}|{ABOVE})\s+(?:of\s+)?{NUM}\s*{UNIT}")
MEASURE_AFTER = re.compile(rf"(?i)\b{NUM}\s*{UNIT}\s+(or more|or less|or under|or over|and up|max|min)\b")
PRICE = re.compile(
    rf"(?i)\b({BELOW}|{ABOVE})\s+(?:\$\s?(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)\s*(?:dollars|usd|bucks))"
)
PERSONS = re.compile(
    rf"(?i)\bfor\s+(?P<n>{NUM[1:-1]})\b(?!\s*(?:dollars|\$|{UNIT}))|\b(?P<d>\d+)[- ]?(?:person|people)\b"
)
FREEZING = re.compile(r"(?i)\b(below|under|sub)[- ]?(freezing|zero)\b")
STRICT = ("under", "below", "less than", "lighter than", "more than", "over", "above")
SCALE = {("kg", "g"): 1000.0, ("g", "kg"): 0.001}  # (unit said, unit of the attribute)


def _number(raw: str) -> float:
    return float(NUMBER_WORDS.get(raw.lower(), raw))


def category_of(catalog: Catalog, text: str) -> str | None:
    """The one category the text names, or None."""
    lowered = text.lower()
    said = {w.rstrip("s") for w in re.findall(r"[a-z]+", lowered)} - {""}
    said = {w for w in said if len(w) >= 4}
    found = []
    for category in catalog.categories:
        spaced = category.replace("-", " ")
        singular = spaced.rstrip("s")
        if re.search(rf"\b({re.escape(spaced)}|{re.escape(singular)})\b", lowered) or any(
            singular.endswith(w) for w in said
        ):
            found.append(category)
    return found[0] if len(found) == 1 else None


def _pool(catalog: Catalog, category: str | None) -> list[Product]:
    products = list(catalog.products.values())
    return [p for p in products if p.category == category] if category else products


def _attribute_for(pool: list[Product], unit: str) -> tuple[str, float] | None:
    """The attribute the pool measures in ``unit`` (the most common), with the factor to its unit."""
    counts: Counter[tuple[str, float]] = Counter()
    for product in pool:
        for name in product.attributes:
            parts = name.lower().split("_")
            for own in (unit, *[u for (said, u) in SCALE if said == unit]):
                if own in parts[1:] or (own == unit and name.lower() == unit):
                    counts[(name, SCALE.get((unit, own), 1.0))] += 1
    best = counts.most_common(2)
    if not best or (len(best) == 2 and best[0][1] == best[1][1]):
        return None  # no attribute in that unit, or two equally likely: leave it to the ranking
    return best[0][0]


def _limit(op: str, value: float) -> dict[str, float]:
    op = op.lower()
    below = re.fullmatch(BELOW, op) is not None or op in ("or less", "or under", "max")
    key = ("lt" if op in STRICT else "max") if below else ("gt" if op in STRICT else "min")
    return {key: value}


def _measures(text: str, pool: list[Product], attributes: dict[str, Any]) -> None:
    found = [(m.group(1), m.group(2), m.group(3)) for m in MEASURE_BEFORE.finditer(text)]
    found += [(m.group(3), m.group(1), m.group(2)) for m in MEASURE_AFTER.finditer(text)]
    for op, raw, unit_word in found:
        resolved = _attribute_for(pool, UNITS[unit_word.lower()])
        if resolved is not None:
            name, scale = resolved
            attributes[name] = _limit(op, round(_number(raw) * scale, 6))
    persons = PERSONS.search(text)
    if persons and (resolved := _attribute_for(pool, "persons")) is not None:
        attributes.setdefault(resolved[0], {"min": _number(persons.group("n") or persons.group("d"))})
    if FREEZING.search(text) and (resolved := _attribute_for(pool, "c")) is not None:
        attributes.setdefault(resolved[0], {"lt": 0})


def _flags(text: str, pool: list[Product], attributes: dict[str, Any]) -> None:
    """Yes/no attributes and one-word values the text uses."""
    normal = re.sub(r"[\s-]+", "_", text.lower())
    said = re.findall(r"[a-z]+", text.lower())
    for product in pool:
        for name, value in product.attributes.items():
            key = name.lower()
            if isinstance(value, bool) and name not in attributes:
                if re.search(rf"(?<![a-z]){re.escape(key)}", normal) or (
                    "_" not in key and len(key) >= 4 and any(w.startswith(key) for w in said)
                ):
                    attributes[name] = True
            elif isinstance(value, str) and len(value) >= 5 and value.lower() in said:
                attributes.setdefault(name, value)


def search_arguments(catalog: Catalog, text: str) -> dict[str, Any]:
    """``search_products`` arguments for the question: the query plus the constraints it states."""
    arguments: dict[str, Any] = {"query": text}
    category = category_of(catalog, text)
    if category:
        arguments["category"] = category
    for match in PRICE.finditer(text):
        value = float(match.group(2) or match.group(3))
        below = re.fullmatch(BELOW, match.group(1).lower()) is not None
        arguments["max_price" if below else "min_price"] = value
    pool = _pool(catalog, category)
    attributes: dict[str, Any] = {}
    _measures(re.sub(PRICE, " ", text), pool, attributes)
    _flags(text, pool, attributes)
    if attributes:
        arguments["attributes"] = attributes
    return arguments
