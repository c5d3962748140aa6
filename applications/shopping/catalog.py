"""The shopping catalog: its documented format, the loader that checks it line by line, policies.

Format (one JSON object per line, ``.jsonl``)::

    {"id": "P001", "name": "Trailhead 2 Tent", "brand": "Northpine", "category": "tents",
     "price": 249.0, "rating": 4.5, "stock": 12,
     "attributes": {"capacity_persons": 2, "weight_kg": 1.4, "season": "3-season"},
     "description": "…", "reviews": [{"rating": 5, "text": "…"}],
     "policies": {"returns": "Final sale: no returns."}}          # optional, per product

Store policies are Markdown: each ``## Heading`` starts a section (its id is the heading in
lower-case with dashes: ``## Price match`` → ``price-match``).

A line that is empty, not JSON, or breaks a rule is reported with its line number and skipped as a
whole (never half-loaded); the other lines load. Descriptions and reviews are *untrusted* text:
they are kept verbatim here and only ever shown to the model marked as data (see ``tools``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REQUIRED = ("id", "name", "brand", "category", "price", "rating", "stock", "description")
MAX_LINE_BYTES = 200_000


@dataclass(frozen=True)
class Review:
    rating: int
    text: str


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    brand: str
    category: str
    price: float
    rating: float
    stock: int
    attributes: dict[str, Any]
    description: str
    reviews: tuple[Review, ...] = ()
    policies: dict[str, str] = field(default_factory=dict)

    def card(self) -> dict[str, Any]:
        """The trusted facts of a product (what a product card and a search result show)."""
        return {
            "id": self.id,
            "name": self.name,
            "brand": self.brand,
            "category": self.category,
            "price": self.price,
            "rating": self.rating,
            "in_stock": self.stock > 0,
            "attributes": dict(self.attributes),
        }


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Catalog:
    products: dict[str, Product] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)

    def get(self, product_id: str) -> Product | None:
        wanted = str(product_id).strip()
        if wanted in self.products:
            return self.products[wanted]
        # a model (or a shopper) may write p017 for P017
        return next((p for k, p in self.products.items() if k.lower() == wanted.lower()), None)

    @property
    def categories(self) -> list[str]:
        return sorted({p.category for p in self.products.values()})


@dataclass(frozen=True)
class PolicySection:
    id: str
    title: str
    text: str


class CatalogLineError(ValueError):
    """One catalog line breaks the format (the message says how, never with a traceback)."""


def _number(obj: dict[str, Any], key: str, *, low: float, high: float | None = None) -> float:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CatalogLineError(f"'{key}' must be a number, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise CatalogLineError(f"'{key}' must be {bound}, got {value:g}")
    return float(value)


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise CatalogLineError(f"'{key}' must be a non-empty string")
    return value.strip()


def _reviews(raw: Any) -> tuple[Review, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CatalogLineError("'reviews' must be a list of {rating, text}")
    reviews = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict) or "rating" not in item or "text" not in item:
            raise CatalogLineError(f"review {n} must be an object with 'rating' and 'text'")
        rating = _number(item, "rating", low=1, high=5)
        reviews.append(Review(int(rating), _text(item, "text")))
    return tuple(reviews)


def _policies(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise CatalogLineError("'policies' must be an object of policy name to text")
    return {str(k): v.strip() for k, v in raw.items()}


def parse_product(obj: Any) -> Product:
    """One catalog object → :class:`Product`, or :class:`CatalogLineError` saying what is wrong."""
    if not isinstance(obj, dict):
        raise CatalogLineError("a line must hold one JSON object")
    missing = [k for k in REQUIRED if k not in obj]
    if missing:
        raise CatalogLineError(f"missing field(s): {', '.join(missing)}")
    product_id = _text(obj, "id")
    if not ID_PATTERN.match(product_id):
        raise CatalogLineError("'id' must be 1-64 letters, digits, '.', '_' or '-'")
    attributes = obj.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise CatalogLineError("'attributes' must be an object")
    stock = _number(obj, "stock", low=0)
    if stock != int(stock):
        raise CatalogLineError("'stock' must be a whole number")
    return Product(
        id=product_id,
        name=_text(obj, "name"),
        brand=_text(obj, "brand"),
        category=_text(obj, "category").lower(),
        price=round(_number(obj, "price", low=0.01), 2),
        rating=_number(obj, "rating", low=0, high=5),
        stock=int(stock),
        attributes=attributes,
        description=_text(obj, "description"),
        reviews=_reviews(obj.get("reviews")),
        policies=_policies(obj.get("policies")),
    )


def parse_catalog(text: str) -> Catalog:
    """Parse JSONL text: good lines load, each bad one is a :class:`LineError` and is skipped."""
    catalog = Catalog()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            catalog.errors.append(LineError(number, "empty line"))
            continue
        try:
            if len(line.encode()) > MAX_LINE_BYTES:
                raise CatalogLineError(f"line longer than {MAX_LINE_BYTES} bytes")
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CatalogLineError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            product = parse_product(obj)
            if product.id in catalog.products:
                raise CatalogLineError(f"duplicate id {product.id!r} (first one kept)")
        except CatalogLineError as exc:
            catalog.errors.append(LineError(number, str(exc)))
            continue
        catalog.products[product.id] = product
    return catalog


def load_catalog(path: str | Path) -> Catalog:
    """Read a catalog file (UTF-8 JSONL)."""
    return parse_catalog(Path(path).read_text(encoding="utf-8"))


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "policy"


def parse_policies(markdown: str) -> list[PolicySection]:
    """Split store policies into sections at each ``## Heading`` (text before the first is dropped)."""
    sections: list[PolicySection] = []
    title: str | None = None
    lines: list[str] = []

    def close() -> None:
        if title is not None and "\n".join(lines).strip():
            sections.append(PolicySection(_slug(title), title, "\n".join(lines).strip()))

    for line in markdown.splitlines():
        heading = re.match(r"^##\s+(.+?)\s*#*\s*$", line)
        if heading:
            close()
            title, lines = heading.group(1), []
        elif title is not None:
            lines.append(line)
    close()
    return sections


def load_policies(path: str | Path) -> list[PolicySection]:
    return parse_policies(Path(path).read_text(encoding="utf-8"))
