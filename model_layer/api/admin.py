"""strata's own management API: a tenant's usage, and the admin API for tenants and keys.

Not AWS operations, so they live under ``/strata/v1/`` and answer in the Bedrock error shape the
SDK already maps. Two kinds of caller:

- any tenant credential: ``GET /strata/v1/usage`` — that tenant's own usage, spend and budgets,
  never another's;
- the admin credential (``Authorization: Bearer <STRATA_ADMIN_TOKEN>``): tenants (limits,
  allowed models, budgets, per-model limits), key sets (issue, list, revoke, rotate) and everyone's
  usage. Without ``STRATA_ADMIN_TOKEN`` the admin API is off (403 saying so).

Every replica serves both from the shared state store, so a deployment with many replicas is
managed over HTTP, not only by a CLI on one host. Blocking store calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model_layer.api.deps import TenantDep
from model_layer.auth.keystore import MAX_LIMIT, MAX_MODEL_ID
from model_layer.errors import (
    AccessDeniedException,
    ResourceNotFoundException,
    ServiceUnavailableException,
    ValidationException,
)
from model_layer.state import StateUnavailableError
from model_layer.wire.validate import parse_json_body
from strata.errors import NotFoundError, StrataError

router = APIRouter(prefix="/strata/v1", tags=["strata"])

ADMIN_OFF = "The admin API is off: set STRATA_ADMIN_TOKEN on the gateway to enable it."
ADMIN_DENIED = "The admin API needs Authorization: Bearer <admin token>."


# --- request bodies ------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _limit(alias: str) -> Any:
    # Strict: JSON true is not 1 request/min. Bounded by what the state store's columns hold.
    return Field(None, alias=alias, ge=1, le=MAX_LIMIT, strict=True)


class ModelLimitBody(_Body):
    model_id: str = Field(alias="modelId", min_length=1, max_length=MAX_MODEL_ID)
    requests_per_minute: int | None = _limit("requestsPerMinute")
    tokens_per_minute: int | None = _limit("tokensPerMinute")


class TenantBody(_Body):
    """PUT body: keys present are set (null clears), keys absent keep their value.

    ``modelLimits`` entries are set per model (an entry with neither limit removes that model's);
    ``"modelLimits": null`` removes them all.
    """

    requests_per_minute: int | None = _limit("requestsPerMinute")
    tokens_per_minute: int | None = _limit("tokensPerMinute")
    allowed_models: list[str] | None = Field(None, alias="allowedModels", max_length=1000)
    daily_budget_usd: float | None = Field(None, alias="dailyBudgetUsd", ge=0, allow_inf_nan=False)
    monthly_budget_usd: float | None = Field(None, alias="monthlyBudgetUsd", ge=0, allow_inf_nan=False)
    model_limits: list[ModelLimitBody] | None = Field(None, alias="modelLimits", max_length=1000)


class IssueBody(_Body):
    expires_in_seconds: int | None = Field(None, alias="expiresInSeconds", ge=60, le=10 * 365 * 86400)


class RotateBody(_Body):
    grace_seconds: int = Field(86400, alias="graceSeconds", ge=0, le=90 * 86400)
    expires_in_seconds: int | None = Field(None, alias="expiresInSeconds", ge=60, le=10 * 365 * 86400)


async def _body(request: Request, model: type[_Body]) -> Any:
    try:
        return model.model_validate(parse_json_body(await request.body()))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationException(f"1 validation error detected: Value at '{where}' {first['msg']}") from None


# --- callers ---------------------------------------------------------------------------------------


async def require_admin(request: Request) -> None:
    settings = request.app.state.settings
    token = getattr(settings, "admin_token", None)
    if token is None:
        raise AccessDeniedException(ADMIN_OFF)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise AccessDeniedException(ADMIN_DENIED)


AdminDep = Annotated[None, Depends(require_admin)]


def _keys(request: Request):
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is None:  # an app built without shared state (some tests)
        raise ServiceUnavailableException("This gateway was started without a state store.")
    return gateway.keystore


async def _run(func: Any, *args: Any, **kwargs: Any) -> Any:
    """A blocking store call in a worker thread; its user errors become the API's errors."""
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    except StateUnavailableError as exc:
        raise ServiceUnavailableException("The state store is unavailable; retry shortly.") from exc
    except NotFoundError as exc:
        raise ResourceNotFoundException(exc.message) from None
    except StrataError as exc:
        raise ValidationException(str(exc)) from None


def _usage(request: Request):
    return _keys(request).state.usage


# --- JSON shapes -----------------------------------------------------------------------------------


def tenant_json(record) -> dict[str, Any]:
    return {
        "tenantId": record.tenant_id,
        "createdAt": record.created_at,
        "requestsPerMinute": record.requests_per_minute,
        "tokensPerMinute": record.tokens_per_minute,
        "allowedModels": list(record.allowed_models) if record.allowed_models is not None else None,
        "dailyBudgetUsd": record.daily_budget_usd,
        "monthlyBudgetUsd": record.monthly_budget_usd,
        "modelLimits": [
            {
                "modelId": m.model_id,
                "requestsPerMinute": m.requests_per_minute,
                "tokensPerMinute": m.tokens_per_minute,
            }
            for m in record.model_limits
        ],
    }


def key_json(record) -> dict[str, Any]:
    return {
        "accessKeyId": record.access_key_id,
        "tenantId": record.tenant_id,
        "apiKeyHint": record.api_key_hint,
        "createdAt": record.created_at,
        "expiresAt": record.expires_at,
        "revokedAt": record.revoked_at,
        "replacedBy": record.replaced_by,
        "status": record.status,
    }


def issued_json(issued) -> dict[str, Any]:
    return {
        "tenantId": issued.tenant_id,
        "accessKeyId": issued.access_key_id,
        "secretAccessKey": issued.secret_access_key,
        "apiKey": issued.api_key,
        "expiresAt": issued.expires_at,
    }


def summary_json(summary) -> dict[str, Any]:
    return {
        "tenantId": summary.tenant_id,
        "modelId": summary.model_id,
        "requests": summary.requests,
        "errors": summary.errors,
        "inputTokens": summary.input_tokens,
        "outputTokens": summary.output_tokens,
        "cacheReadInputTokens": summary.cache_read_input_tokens,
        "cacheWriteInputTokens": summary.cache_write_input_tokens,
        "costUsd": summary.cost_usd,
        "avgLatencyMs": summary.avg_latency_ms,
    }


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationException(
            f"{name} must be an ISO-8601 date or date-time, got {value[:40]!r}"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def _usage_report(request: Request, tenant_id: str | None) -> dict[str, Any]:
    params = request.query_params
    since, until = _when(params.get("since"), "since"), _when(params.get("until"), "until")
    await request.app.state.service.meter.flushed()  # this replica's latest calls are in the report
    rows = await asyncio.to_thread(_usage(request).summarize, tenant_id=tenant_id, since=since, until=until)
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "models": [summary_json(r) for r in rows],
    }


# --- a tenant's own usage ---------------------------------------------------------------------------


@router.get("/usage")
async def get_own_usage(request: Request, tenant: TenantDep) -> dict[str, Any]:
    report = await _usage_report(request, tenant.tenant_id)
    spend = await asyncio.to_thread(_usage(request).spend, tenant.tenant_id, time.time())
    policy = tenant.policy
    report.update(
        tenantId=tenant.tenant_id,
        spend={"dayUsd": round(spend.day_usd, 8), "monthUsd": round(spend.month_usd, 8)},
        budgets={"dailyUsd": policy.daily_budget_usd, "monthlyUsd": policy.monthly_budget_usd},
    )
    return report


# --- admin: tenants -------------------------------------------------------------------------------


@router.get("/admin/tenants")
async def list_tenants(request: Request, _: AdminDep) -> dict[str, Any]:
    records = await _run(_keys(request).list_tenants)
    return {"tenants": [tenant_json(r) for r in records]}


@router.get("/admin/tenants/{tenant_id}")
async def get_tenant(tenant_id: str, request: Request, _: AdminDep) -> dict[str, Any]:
    record = await _run(_keys(request).get_tenant, tenant_id)
    if record is None:
        raise ResourceNotFoundException(f"Tenant {tenant_id} not found")
    return tenant_json(record)


@router.put("/admin/tenants/{tenant_id}")
async def put_tenant(tenant_id: str, request: Request, _: AdminDep) -> dict[str, Any]:
    body = await _body(request, TenantBody)
    given = body.model_dump(exclude_unset=True)
    clear_limits = "model_limits" in given and given["model_limits"] is None
    limits = given.pop("model_limits", None)
    keys = _keys(request)
    if clear_limits:
        current = await _run(keys.get_tenant, tenant_id)
        limits = [{"model_id": m.model_id} for m in (current.model_limits if current else ())]
    record = await _run(keys.set_tenant, tenant_id, model_limits=limits, **given)
    return tenant_json(record)


# --- admin: keys -----------------------------------------------------------------------------------


@router.post("/admin/tenants/{tenant_id}/keys")
async def create_keys(tenant_id: str, request: Request, _: AdminDep) -> JSONResponse:
    body = await _body(request, IssueBody)
    expires = timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds else None
    issued = await _run(_keys(request).create_keys, tenant_id, expires_in=expires)
    return JSONResponse(issued_json(issued), status_code=201)


@router.get("/admin/keys")
async def list_keys(request: Request, _: AdminDep) -> dict[str, Any]:
    tenant_id = request.query_params.get("tenantId")
    records = await _run(_keys(request).list_keys, tenant_id)
    return {"keys": [key_json(r) for r in records]}


@router.post("/admin/keys/{access_key_id}/revoke")
async def revoke_key(access_key_id: str, request: Request, _: AdminDep) -> dict[str, Any]:
    return key_json(await _run(_keys(request).revoke, access_key_id))


@router.post("/admin/keys/{access_key_id}/rotate")
async def rotate_key(access_key_id: str, request: Request, _: AdminDep) -> JSONResponse:
    body = await _body(request, RotateBody)
    expires = timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds else None
    issued = await _run(
        _keys(request).rotate, access_key_id, grace=timedelta(seconds=body.grace_seconds), expires_in=expires
    )
    return JSONResponse(issued_json(issued), status_code=201)


# --- admin: usage ----------------------------------------------------------------------------------


@router.get("/admin/usage")
async def get_usage(request: Request, _: AdminDep) -> dict[str, Any]:
    return await _usage_report(request, request.query_params.get("tenantId"))
