"""The request-body size limit, and reading the body once, before any route or authenticator sees it.

A plain ASGI middleware (inside the request-id middleware, so errors carry the request id):

- a ``Content-Length`` over the limit is refused at once, before a byte of the body is read (and
  before SigV4 verification, which hashes the whole body);
- otherwise the body is read here with a running count, so a chunked body that passes the limit
  is refused as soon as it does, never buffered whole; the app then gets the body in one message;
- a client that disconnects, or sends a malformed chunked body, while its body is being read gets
  no response and leaves no traceback: nobody is listening (uvicorn logs one warning line for a
  malformed body).

A refused body is a :class:`RequestTooLarge`: HTTP 413 in the route family's error shape
(``ValidationException`` for the AWS routes, which is what botocore raises for it;
``invalid_request_error`` under ``/v1``), with ``Connection: close`` so the rest of the upload is
not read.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_layer.api.error_handlers import render_error
from model_layer.errors import ValidationException

_TOO_LARGE = object()


class RequestTooLarge(ValidationException):
    """A request body over ``max_request_body_bytes``."""

    status = 413


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, send)
            return
        body = await self._read_body(receive)
        if body is _TOO_LARGE:
            await self._refuse(scope, send)
        elif body is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes | object | None:
        """The whole body; None when the client left; ``_TOO_LARGE`` once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: nobody to answer
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return _TOO_LARGE
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        limit = self.max_bytes
        exc = RequestTooLarge(
            f"The request body is larger than this gateway accepts ({limit} bytes); "
            "send a smaller request (the limit is set by STRATA_MAX_REQUEST_BODY_BYTES)."
        )
        response = render_error(Request(scope), exc)
        response.headers["connection"] = "close"  # don't read the rest of the upload
        await response(scope, _no_body, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # the HTTP parser rejects these; be safe if another server doesn't
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that hands out ``body`` once, then the server's own messages (disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


async def _no_body() -> dict[str, Any]:
    return {"type": "http.disconnect"}
