"""Operations endpoints, no authentication: ``GET /health`` and Prometheus ``GET /metrics``.

Both are meant for load balancers and scrapers inside the deployment (the CDK stack keeps them off
the public listener); they reveal model ids and per-tenant counters, never keys or bodies.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from model_layer.tenancy.metrics import DEFAULT_METRICS

router = APIRouter()


@router.get("/health", include_in_schema=False)
async def health(request: Request) -> JSONResponse:
    """Liveness plus what the gateway serves: ``ok`` when at least one model is registered."""
    service = request.app.state.service
    models = [m.model_id for m in service.list_models()]
    body = {
        "status": "ok" if models else "degraded",
        "version": request.app.version,
        "models": models,
    }
    return JSONResponse(body, status_code=200 if models else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    registry = getattr(request.app.state, "metrics_registry", None) or DEFAULT_METRICS.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
