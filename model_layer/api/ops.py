"""Operations endpoints: ``GET /health`` (public) and Prometheus ``GET /metrics`` (not public).

``/health`` is for load balancers: status and version only, nothing per model or tenant.
``/metrics`` carries per-tenant requests, tokens and cost, so on the main port it answers only a
scraper presenting ``Authorization: Bearer <STRATA_METRICS_TOKEN>``, and is a 404 (like any unknown
route) when no token is configured. :func:`listener_app` is the app of the separate metrics
listener (``STRATA_METRICS_PORT``): ``/metrics`` and ``/health`` without credentials, meant for a
private interface; :mod:`model_layer.serving` runs it.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from model_layer.api.error_handlers import install_error_handlers
from model_layer.errors import AccessDeniedException, UnknownOperationException
from model_layer.tenancy.metrics import DEFAULT_METRICS

router = APIRouter()

METRICS_TOKEN_REQUIRED = "GET /metrics on this port requires Authorization: Bearer <metrics token>."


def health_response(gateway: FastAPI) -> JSONResponse:
    """``ok`` (200) when at least one model is registered, else ``degraded`` (503)."""
    serving = bool(gateway.state.service.list_models())
    body = {"status": "ok" if serving else "degraded", "version": gateway.version}
    return JSONResponse(body, status_code=200 if serving else 503)


def metrics_response(gateway: FastAPI) -> Response:
    registry = getattr(gateway.state, "metrics_registry", None) or DEFAULT_METRICS.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/health", include_in_schema=False)
async def health(request: Request) -> JSONResponse:
    return health_response(request.app)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    _check_metrics_token(request)
    return metrics_response(request.app)


def _check_metrics_token(request: Request) -> None:
    settings = getattr(request.app.state, "settings", None)
    token = getattr(settings, "metrics_token", None)
    if token is None:
        # Not served here at all: the same answer as a route that does not exist.
        raise UnknownOperationException(f"No operation matches {request.method} {request.url.path}")
    presented = request.headers.getlist("authorization")
    scheme, _, value = (presented[0] if len(presented) == 1 else "").partition(" ")
    value = value.strip()
    # Constant-time compare, so the token cannot be guessed byte by byte from response times.
    if (
        scheme.lower() != "bearer"
        or not value
        or not hmac.compare_digest(value.encode(), token.get_secret_value().encode())
    ):
        raise AccessDeniedException(METRICS_TOKEN_REQUIRED)


def listener_app(gateway: FastAPI) -> FastAPI:
    """The separate metrics listener's app: ``gateway``'s ``/metrics`` and ``/health``, no auth."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    install_error_handlers(app)

    @app.get("/metrics")
    async def listener_metrics() -> Response:
        return metrics_response(gateway)

    @app.get("/health")
    async def listener_health() -> JSONResponse:
        return health_response(gateway)

    return app
