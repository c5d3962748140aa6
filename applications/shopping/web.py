"""The shopping assistant's web page and its small JSON API (Starlette, served by ``strata shop serve``).

- ``GET /`` — the page (``static/index.html``: chat, product cards, citations, cart);
- ``POST /api/chat`` ``{"message", "session"}`` — the turn's events as NDJSON, one JSON object a line,
  streamed as the assistant produces them (``tool``, ``products``, ``text``, ``error``, ``done``);
- ``GET /api/cart?session=…`` and ``POST /api/cart/remove`` — the cart (a click on "remove" is the
  shopper's own action, so it needs no model);
- ``GET /api/health``.

The assistant's SDK calls block, so each turn's generator runs in Starlette's thread pool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

from applications.shopping.sessions import CartError
from applications.shopping.shop import Shop

STATIC = Path(__file__).with_name("static")
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_MESSAGE = 2000


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _session(value: Any) -> str | None:
    return value if isinstance(value, str) and SESSION_RE.match(value) else None


def _events(shop: Shop, message: str, session_id: str) -> Iterator[bytes]:
    for event in shop.assistant.stream(message, session_id):
        if event["type"] == "done":
            event = {"type": "done", "answer": event["answer"].to_json()}
        yield (json.dumps(event, default=str) + "\n").encode()


def _chat_request(body: dict[str, Any] | None) -> tuple[str, str] | JSONResponse:
    """(message, session id) from a chat request, or the 400 that says what is wrong."""
    if body is None:
        return _bad('send a JSON object: {"message": …, "session": …}')
    message, session_id = body.get("message"), _session(body.get("session"))
    if not isinstance(message, str) or not message.strip():
        return _bad("'message' must be a non-empty string")
    if len(message) > MAX_MESSAGE:
        return _bad(f"'message' is longer than {MAX_MESSAGE} characters")
    if session_id is None:
        return _bad("'session' must be 1-64 letters, digits, '-' or '_'")
    return message.strip(), session_id


def create_web_app(shop: Shop) -> Starlette:
    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def chat(request: Request) -> Any:
        checked = _chat_request(await _body(request))
        if isinstance(checked, JSONResponse):
            return checked
        message, session_id = checked
        return StreamingResponse(_events(shop, message, session_id), media_type="application/x-ndjson")

    async def cart(request: Request) -> JSONResponse:
        session_id = _session(request.query_params.get("session"))
        if session_id is None:
            return _bad("'session' must be 1-64 letters, digits, '-' or '_'")
        return JSONResponse(shop.sessions.view(session_id, shop.catalog))

    async def remove(request: Request) -> JSONResponse:
        body = await _body(request) or {}
        session_id, product_id = _session(body.get("session")), body.get("product_id")
        if session_id is None or not isinstance(product_id, str):
            return _bad('send {"session": …, "product_id": …}')
        try:
            return JSONResponse(shop.sessions.remove(session_id, shop.catalog, product_id))
        except CartError as exc:
            return _bad(str(exc), 404)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "products": len(shop.catalog.products)})

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/chat", chat, methods=["POST"]),
            Route("/api/cart", cart),
            Route("/api/cart/remove", remove, methods=["POST"]),
            Route("/api/health", health),
        ]
    )
