"""The bedrock control plane for guardrails: Create/Get/List/Update/DeleteGuardrail, CreateGuardrailVersion.

Handlers are named after the operation. Each one authenticates, binds and checks its input
against botocore's model, checks what the model cannot (:mod:`model_layer.guardrails.config`),
and calls the tenant-scoped store off the event loop. Ids and ARNs are AWS's
(``arn:aws:bedrock:{region}:{account}:guardrail/{id}``); an ARN works wherever an id does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from model_layer.api.deps import ServiceDep, TenantDep
from model_layer.errors import ValidationException
from model_layer.guardrails import Guardrails
from model_layer.guardrails.config import definition_from_request, policies_for_get
from model_layer.guardrails.store import DRAFT, GuardrailRecord
from model_layer.wire.openapi import bedrock_body_schema, request_body
from model_layer.wire.validate import bind_params, parse_json_body, validate_input

router = APIRouter(tags=["bedrock"])
SERVICE = "bedrock"
DEFAULT_PAGE = 20


def _body_doc(operation: str) -> dict[str, Any]:
    return request_body(bedrock_body_schema(SERVICE, operation))


def _guardrails(service: Any) -> Guardrails:
    return service.guardrails


async def _input(request: Request, operation: str, path: dict[str, str] | None = None) -> tuple[dict, dict]:
    raw = await request.body()
    body = parse_json_body(raw) if request.method in ("POST", "PUT") else {}
    params = bind_params(SERVICE, operation, path=path, query=request.query_params)
    validate_input(SERVICE, operation, body, params)
    return body, params


@router.post("/guardrails", openapi_extra=_body_doc("CreateGuardrail"))
async def create_guardrail(request: Request, tenant: TenantDep, service: ServiceDep) -> JSONResponse:
    body, _ = await _input(request, "CreateGuardrail")
    guardrails = _guardrails(service)
    definition = definition_from_request(body)
    record = await asyncio.to_thread(
        guardrails.store.create, tenant.tenant_id, definition, body.get("clientRequestToken")
    )
    payload = {
        "guardrailId": record.guardrail_id,
        "guardrailArn": guardrails.arn(record.guardrail_id),
        "version": DRAFT,
        "createdAt": record.created_at,
    }
    return JSONResponse(payload, status_code=202)


@router.get("/guardrails")
async def list_guardrails(request: Request, tenant: TenantDep, service: ServiceDep) -> dict[str, Any]:
    _, params = await _input(request, "ListGuardrails")
    guardrails = _guardrails(service)
    offset = _offset(params.get("nextToken"))
    limit = params.get("maxResults") or DEFAULT_PAGE
    identifier = params.get("guardrailIdentifier")
    if identifier:
        gid = guardrails.parse_identifier(identifier)
        records, more = await asyncio.to_thread(
            guardrails.store.list_versions, tenant.tenant_id, gid, offset, limit
        )
    else:
        records, more = await asyncio.to_thread(guardrails.store.list_drafts, tenant.tenant_id, offset, limit)
    out: dict[str, Any] = {"guardrails": [_summary(guardrails, r) for r in records]}
    if more:
        out["nextToken"] = base64.urlsafe_b64encode(f"o:{offset + limit}".encode()).decode()
    return out


@router.get("/guardrails/{guardrail_identifier:path}")
async def get_guardrail(
    guardrail_identifier: str, request: Request, tenant: TenantDep, service: ServiceDep
) -> dict[str, Any]:
    _, params = await _input(request, "GetGuardrail", {"guardrailIdentifier": guardrail_identifier})
    guardrails = _guardrails(service)
    gid = guardrails.parse_identifier(guardrail_identifier)
    version = params.get("guardrailVersion") or DRAFT
    record = await asyncio.to_thread(guardrails.store.get, tenant.tenant_id, gid, version)
    return _details(guardrails, record)


@router.put("/guardrails/{guardrail_identifier:path}", openapi_extra=_body_doc("UpdateGuardrail"))
async def update_guardrail(
    guardrail_identifier: str, request: Request, tenant: TenantDep, service: ServiceDep
) -> JSONResponse:
    body, _ = await _input(request, "UpdateGuardrail", {"guardrailIdentifier": guardrail_identifier})
    guardrails = _guardrails(service)
    gid = guardrails.parse_identifier(guardrail_identifier)
    definition = definition_from_request(body)
    record = await asyncio.to_thread(guardrails.store.update, tenant.tenant_id, gid, definition)
    payload = {
        "guardrailId": gid,
        "guardrailArn": guardrails.arn(gid),
        "version": DRAFT,
        "updatedAt": record.updated_at,
    }
    return JSONResponse(payload, status_code=202)


@router.post("/guardrails/{guardrail_identifier:path}", openapi_extra=_body_doc("CreateGuardrailVersion"))
async def create_guardrail_version(
    guardrail_identifier: str, request: Request, tenant: TenantDep, service: ServiceDep
) -> JSONResponse:
    body, _ = await _input(request, "CreateGuardrailVersion", {"guardrailIdentifier": guardrail_identifier})
    guardrails = _guardrails(service)
    gid = guardrails.parse_identifier(guardrail_identifier)
    version = await asyncio.to_thread(
        guardrails.store.create_version,
        tenant.tenant_id,
        gid,
        body.get("description"),
        body.get("clientRequestToken"),
    )
    return JSONResponse({"guardrailId": gid, "version": version}, status_code=202)


@router.delete("/guardrails/{guardrail_identifier:path}")
async def delete_guardrail(
    guardrail_identifier: str, request: Request, tenant: TenantDep, service: ServiceDep
) -> JSONResponse:
    _, params = await _input(request, "DeleteGuardrail", {"guardrailIdentifier": guardrail_identifier})
    guardrails = _guardrails(service)
    gid = guardrails.parse_identifier(guardrail_identifier)
    await asyncio.to_thread(guardrails.store.delete, tenant.tenant_id, gid, params.get("guardrailVersion"))
    return JSONResponse({}, status_code=202)


# --- shapes ------------------------------------------------------------------------------------------


def _summary(guardrails: Guardrails, record: GuardrailRecord) -> dict[str, Any]:
    out = {
        "id": record.guardrail_id,
        "arn": guardrails.arn(record.guardrail_id),
        "status": record.status,
        "name": record.name,
        "version": record.version,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
    }
    if record.description:
        out["description"] = record.description
    return out


def _details(guardrails: Guardrails, record: GuardrailRecord) -> dict[str, Any]:
    definition = record.definition
    out: dict[str, Any] = {
        "name": record.name,
        "guardrailId": record.guardrail_id,
        "guardrailArn": guardrails.arn(record.guardrail_id),
        "version": record.version,
        "status": record.status,
        **policies_for_get(definition),
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "blockedInputMessaging": definition["blockedInputMessaging"],
        "blockedOutputsMessaging": definition["blockedOutputsMessaging"],
    }
    if record.description:
        out["description"] = record.description
    kms = definition.get("kmsKeyId")
    if kms and kms.startswith("arn:"):
        out["kmsKeyArn"] = kms
    return out


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "o" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ValidationException("The nextToken is not valid: pass the one a previous ListGuardrails returned.")
