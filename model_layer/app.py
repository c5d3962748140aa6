"""The gateway's ASGI app factory: one base URL, a router per API family, one error renderer per family.

``create_app`` wires settings → service (router + limiter + meter) → authenticator → routers. Tests
build it with injected parts; ``strata serve`` builds it from settings and ``strata.toml``. The
routers' dependencies live in :mod:`model_layer.api.deps`, the error handlers in
:mod:`model_layer.api.error_handlers`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from model_layer.api.error_handlers import install_error_handlers
from model_layer.errors import new_request_id
from model_layer.service import ModelService
from model_layer.settings import GatewaySettings


def _default_service(settings: GatewaySettings) -> ModelService:
    from model_layer.providers.registry import build_router
    from model_layer.tenancy import build_limiter, build_meter

    return ModelService(build_router(settings), build_limiter(settings), build_meter(settings))


def _default_authenticator(settings: GatewaySettings):
    from model_layer.auth import build_authenticator

    return build_authenticator(settings)


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
    install_error_handlers(app)
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
