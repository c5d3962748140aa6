"""One error renderer per API family, and the app's exception handlers.

Every failure is a :class:`~model_layer.errors.GatewayError` by the time it reaches the client: the
path says which family's shape and statuses apply (Bedrock's rest-json per AWS service, or
OpenAI's ``{"error": …}`` under ``/v1/``). FastAPI's own 422 and Starlette's 404/405 are mapped
into the same tree, and anything unexpected is logged and answered as a bare 500 that carries no
internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from model_layer.api import collisions
from model_layer.api.disconnect import ClientDisconnected
from model_layer.errors import (
    GatewayError,
    InternalServerException,
    Service,
    UnknownOperationException,
    ValidationException,
    render_bedrock_error,
    render_openai_error,
)

log = logging.getLogger("strata.gateway")

# Path prefix -> the AWS service whose error statuses apply (bedrock-runtime otherwise).
_SERVICE_BY_PREFIX: tuple[tuple[str, Service], ...] = (
    ("/v1/", "openai"),
    ("/foundation-models", "bedrock"),
    ("/guardrails", "bedrock"),
    ("/inference-profiles", "bedrock"),
    ("/knowledgebases/", "bedrock-agent"),
    ("/agents/", "bedrock-agent"),
)


def service_for_path(path: str) -> Service:
    for prefix, service in _SERVICE_BY_PREFIX:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return service
    return "bedrock-runtime"


def render_error(request: Request, exc: GatewayError) -> Response:
    rid = getattr(request.state, "request_id", None)
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    service = collisions.service_for(request.method, raw_path) or service_for_path(request.url.path)
    if service == "openai":
        return render_openai_error(exc, rid)
    return render_bedrock_error(exc, service, rid)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> Response:
        return render_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        msg = f"1 validation error detected: Value at '{where}' failed to satisfy constraint: "
        return render_error(request, ValidationException(msg + str(first.get("msg"))))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405):
            op = f"{request.method} {request.url.path}"
            return render_error(request, UnknownOperationException(f"No operation matches {op}"))
        return render_error(request, InternalServerException(str(exc.detail)))

    @app.exception_handler(ClientDisconnected)
    async def _client_gone(request: Request, exc: ClientDisconnected) -> Response:
        # Nobody is listening; 499 (nginx's "client closed request") only shows in access logs.
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return render_error(request, InternalServerException("Internal server error"))
