"""The gateway's ASGI app factory: one base URL, a router per API family, one error renderer per family.

``assemble`` opens the shared state (:mod:`model_layer.state`) and builds a :class:`Gateway` on
it: service (router + limiter + meter), authenticator (cached credentials), key store; ``create_app``
wires a gateway to the routers. Tests build either with injected parts; ``strata serve`` builds
both from settings and ``strata.toml``. The
routers' dependencies live in :mod:`model_layer.api.deps`, the error handlers in
:mod:`model_layer.api.error_handlers`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from model_layer.api.error_handlers import install_error_handlers
from model_layer.errors import new_request_id
from model_layer.service import ModelService
from model_layer.settings import GatewaySettings


@dataclass
class Gateway:
    """What one gateway replica runs on; :func:`assemble` builds it from settings."""

    settings: GatewaySettings
    service: ModelService
    authenticator: Any
    keystore: Any  # model_layer.auth.KeyStore over the shared state
    watcher: Any  # model_layer.state.cache.RevisionWatcher: drops cached keys when state changes

    def start(self) -> None:
        self.watcher.start()

    async def aclose(self) -> None:
        try:
            await self.service.aclose()
        finally:
            self.watcher.close()
            self.keystore.close()


def assemble(
    settings: GatewaySettings,
    *,
    router: Any = None,
    buckets: Any = None,
    metrics: Any = None,
) -> Gateway:
    """Open the shared state and build the service, limits, metering and authentication on it."""
    from model_layer.auth import Credentials, KeyStore, build_authenticator
    from model_layer.guardrails.build import build_guardrails
    from model_layer.providers.registry import build_router
    from model_layer.state import open_state, state_config
    from model_layer.state.cache import RevisionWatcher
    from model_layer.tenancy import build_budgets, build_limiter, build_meter
    from model_layer.tenancy.metrics import DEFAULT_METRICS

    metrics = metrics or DEFAULT_METRICS
    router = router or build_router(settings)
    state = open_state(settings)
    watcher = RevisionWatcher(state.tenants.revision, state_config(settings).poll_interval_s)
    keystore = KeyStore.open(settings, state, on_change=watcher.refresh)
    budgets = build_budgets(state)
    limiter = build_limiter(
        settings, budgets=budgets, buckets=buckets, metrics=metrics, config=getattr(router, "config", None)
    )
    service = ModelService(
        router,
        limiter,
        build_meter(settings, state, budgets=budgets, metrics=metrics),
    )
    service.guardrails = build_guardrails(settings, state)
    authenticator = build_authenticator(settings, Credentials(keystore, watcher))
    return Gateway(settings, service, authenticator, keystore, watcher)


def create_app(
    settings: GatewaySettings | None = None,
    *,
    gateway: Gateway | None = None,
    service: ModelService | None = None,
    authenticator: Any = None,
) -> FastAPI:
    """The gateway app: ``gateway`` (default: :func:`assemble` from ``settings``), or for tests
    that need no state, a bare ``service`` and ``authenticator``."""
    settings = settings or (gateway.settings if gateway else GatewaySettings())
    if gateway is None and service is None and authenticator is None:
        gateway = assemble(settings)
    if gateway is not None:
        service, authenticator = gateway.service, gateway.authenticator
    assert service is not None and authenticator is not None, "give a gateway, or a service and authenticator"

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if gateway is not None:
            gateway.start()
        yield
        await (gateway.aclose() if gateway is not None else service.aclose())

    app = FastAPI(
        title="strata gateway",
        version="0.1.0",
        description="Bedrock- and OpenAI-compatible model gateway.",
        lifespan=lifespan,
        redirect_slashes=False,  # trailing slashes are significant in Bedrock's URIs
        # The interactive docs map every route to anyone: opt-in (STRATA_DOCS). app.openapi()
        # still builds the schema for tools and tests either way.
        openapi_url="/openapi.json" if settings.docs else None,
        docs_url="/docs" if settings.docs else None,
        redoc_url="/redoc" if settings.docs else None,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.authenticator = authenticator
    app.state.gateway = gateway

    from model_layer.api.body_limit import BodyLimitMiddleware

    # Inside the request-id middleware, so a refused body's error carries the request id.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    if settings.access_log:
        from model_layer.api.access_log import AccessLogMiddleware

        app.add_middleware(AccessLogMiddleware)  # added last = outermost: it times the whole request
    install_error_handlers(app)
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    from model_layer.api import admin, control, guardrail_runtime, guardrails, openai, ops, runtime

    # The hot paths first: a request is matched against the routers in order (measured: matching
    # /v1/chat/completions behind five routers was ~5% of the gateway's time per call).
    for module in (openai, runtime, ops, guardrail_runtime, control, guardrails, admin):
        app.include_router(module.router)
    # Knowledge bases (bedrock-agent + bedrock-agent-runtime) and the /tags/{arn} routes both share.
    from model_layer.api import ingestion_jobs, knowledge_bases, retrieval, tags

    for module in (knowledge_bases, ingestion_jobs, retrieval, tags):
        app.include_router(module.router)
    from model_layer.api import agents, agents_runtime

    for module in (agents, agents_runtime):
        app.include_router(module.router)
    _add_plain_routes(app, [openai, runtime])


def _add_plain_routes(app: FastAPI, modules: list[Any]) -> None:
    """The model-call routes again, as plain Starlette routes matched before FastAPI's routers.

    Their handlers take the request and path parameters only (they authenticate inline:
    ``deps.caller``), so FastAPI's dependency solving, its nested router matching and its endpoint
    wrapper have nothing to add; measured, skipping them took ~0.1 ms (~10%) off the gateway's CPU
    per chat completion. The FastAPI routes stay registered (never reached) for ``/openapi.json``
    and give the plain ones their paths (each module's ``PLAIN_ROUTES`` names the handlers);
    middleware and error handlers apply to both alike.
    """
    from fastapi.routing import APIRoute
    from starlette.routing import Route

    plain = [
        Route(route.path, _request_only(route.endpoint), methods=list(route.methods), include_in_schema=False)
        for module in modules
        for route in module.router.routes
        if isinstance(route, APIRoute) and route.endpoint in module.PLAIN_ROUTES
    ]
    app.router.routes[0:0] = plain


def _request_only(handler: Any) -> Any:
    """``handler(**path_params, request=...)`` as a Starlette endpoint (the access log keeps its name)."""

    @functools.wraps(handler)
    async def endpoint(request: Any) -> Any:
        return await handler(**request.path_params, request=request)

    return endpoint


class RequestIdMiddleware:
    """Give every request an id (``request.state.request_id``) and echo it in the response.

    As ``x-amzn-RequestId`` (what botocore reads) and, under ``/v1``, also ``x-request-id`` (what
    the openai SDK exposes as ``_request_id``). A plain ASGI middleware: ``@app.middleware("http")``
    costs a task and a stream per request.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        wanted = [(b"x-amzn-requestid", rid.encode())]
        if scope["path"].startswith("/v1/"):
            wanted.append((b"x-request-id", rid.encode()))

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(name, value) for name, value in wanted if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
