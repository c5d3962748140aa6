"""The gateway's ASGI app: one base URL, a router per API family, one error renderer per family.

``create_app`` wires settings → service (router + limiter + meter) → authenticator → routers. Tests
build it with injected parts; ``strata serve`` builds it from settings and ``strata.toml``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from model_layer.api.disconnect import ClientDisconnected
from model_layer.errors import (
    GatewayError,
    InternalServerException,
    Service,
    UnknownOperationException,
    ValidationException,
    new_request_id,
    render_bedrock_error,
    render_openai_error,
)
from model_layer.service import ModelService
from model_layer.settings import GatewaySettings
from model_layer.types import Tenant

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
    service = service_for_path(request.url.path)
    if service == "openai":
        return render_openai_error(exc, rid)
    return render_bedrock_error(exc, service, rid)


async def current_tenant(request: Request) -> Tenant:
    """FastAPI dependency: authenticate the request (SigV4 or API key) and return its tenant."""
    tenant = await request.app.state.authenticator.authenticate(request)
    request.state.tenant = tenant
    return tenant


async def get_service(request: Request) -> ModelService:
    # async so FastAPI calls it inline instead of in a worker thread on every request
    return request.app.state.service


def _default_service(settings: GatewaySettings) -> ModelService:
    from model_layer.providers.registry import build_router
    from model_layer.tenancy import build_limiter, build_meter

    return ModelService(build_router(settings), build_limiter(settings), build_meter(settings))


def _default_authenticator(settings: GatewaySettings):
    from model_layer.auth import build_authenticator

    return build_authenticator(settings)


def _install_error_handlers(app: FastAPI) -> None:
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


def create_app(
    settings: GatewaySettings | None = None,
    *,
    service: ModelService | None = None,
    authenticator=None,
) -> FastAPI:
    settings = settings or GatewaySettings()
    service = service or _default_service(settings)
    authenticator = authenticator or _default_authenticator(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await service.aclose()

    app = FastAPI(
        title="strata gateway",
        version="0.1.0",
        description="Bedrock- and OpenAI-compatible model gateway.",
        lifespan=lifespan,
        redirect_slashes=False,  # trailing slashes are significant in Bedrock's URIs
    )
    app.state.settings = settings
    app.state.service = service
    app.state.authenticator = authenticator

    app.add_middleware(RequestIdMiddleware)
    _install_error_handlers(app)
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    from model_layer.api import control, openai, ops, runtime

    for module in (ops, runtime, control, openai):
        app.include_router(module.router)


class RequestIdMiddleware:
    """Give every request an id (``request.state.request_id``) and echo it as x-amzn-RequestId.

    A plain ASGI middleware: ``@app.middleware("http")`` costs a task and a stream per request.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-amzn-requestid" for k, _ in headers):
                    headers.append((b"x-amzn-requestid", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
