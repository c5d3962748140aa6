"""FastAPI dependencies the routers share: the caller's tenant, the model service, request facts.

Kept apart from the app factory (:mod:`model_layer.app`) so that routers never import the module
that imports them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from model_layer.service import ModelService
from model_layer.types import Tenant


async def current_tenant(request: Request) -> Tenant:
    """Authenticate the request (SigV4 or API key) and return its tenant."""
    tenant = await request.app.state.authenticator.authenticate(request)
    request.state.tenant = tenant
    return tenant


async def get_service(request: Request) -> ModelService:
    # async so FastAPI calls it inline instead of in a worker thread on every request
    return request.app.state.service


async def caller(request: Request) -> tuple[Tenant, ModelService]:
    """The caller's tenant (authenticated) and the service, for the model-call routes.

    Called first thing in the handler instead of declared as ``TenantDep``/``ServiceDep``:
    FastAPI's dependency solving for those two was the biggest single cost of the framework on a
    model call (~13% of the gateway's CPU per chat completion against an instant upstream).
    """
    return await current_tenant(request), request.app.state.service


TenantDep = Annotated[Tenant, Depends(current_tenant)]
ServiceDep = Annotated[ModelService, Depends(get_service)]


def request_id(request: Request) -> str | None:
    """The id :class:`~model_layer.app.RequestIdMiddleware` gave this request."""
    return getattr(request.state, "request_id", None)


def request_timeout(request: Request) -> float | None:
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "request_timeout_s", None)


def region(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "region", None) or "us-east-1"
