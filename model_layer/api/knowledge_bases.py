"""The bedrock-agent API for knowledge bases and data sources: Create/Get/List/Update/Delete
KnowledgeBase and DataSource.

Handlers are named after the operation. Inputs are checked against botocore's model; a local
folder data source (strata's extension: WEB with one ``file://`` seed URL) is checked with a
stand-in URL, since the model's URL pattern allows only http(s). Paging tokens are offsets.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from model_layer.api.deps import TenantDep
from model_layer.api.knowledge_deps import KnowledgeDep, knowledge_lifespan
from model_layer.errors import ValidationException
from model_layer.knowledge.records import DataSource, KnowledgeBase, iso, knowledge_base_arn
from model_layer.wire.validate import parse_json_body, validate_input

router = APIRouter(tags=["bedrock-agent"], lifespan=knowledge_lifespan)
SERVICE = "bedrock-agent"
_FOLDER_STAND_IN = "https://strata.invalid/folder"


def paging(body: dict[str, Any], default: int = 1000) -> tuple[int, int]:
    """(offset, limit) from maxResults and nextToken (an offset this gateway issued)."""
    token = body.get("nextToken")
    if token is not None and not str(token).isdigit():
        raise ValidationException("Invalid nextToken")
    return int(token or 0), int(body.get("maxResults") or default)


async def read_body(request: Request, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    body = parse_json_body(await request.body())
    validate_input(SERVICE, operation, _with_stand_in(body), params)
    return body


def _with_stand_in(body: dict[str, Any]) -> dict[str, Any]:
    """A copy whose file:// seed URLs pass the model's http(s) pattern (strata's folder sources)."""
    seeds = (
        body.get("dataSourceConfiguration", {})
        .get("webConfiguration", {})
        .get("sourceConfiguration", {})
        .get("urlConfiguration", {})
        .get("seedUrls")
    )
    if not isinstance(seeds, list) or not any(str(s.get("url", "")).startswith("file://") for s in seeds):
        return body
    checked = copy.deepcopy(body)
    for seed in checked["dataSourceConfiguration"]["webConfiguration"]["sourceConfiguration"][
        "urlConfiguration"
    ]["seedUrls"]:
        if str(seed.get("url", "")).startswith("file://"):
            seed["url"] = _FOLDER_STAND_IN
    return checked


def kb_wire(kb: KnowledgeBase, region: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "knowledgeBaseId": kb.knowledge_base_id,
        "name": kb.name,
        "knowledgeBaseArn": knowledge_base_arn(region, kb.tenant_id, kb.knowledge_base_id),
        "roleArn": kb.role_arn,
        "knowledgeBaseConfiguration": kb.configuration,
        "status": kb.status,
        "createdAt": iso(kb.created_at),
        "updatedAt": iso(kb.updated_at),
    }
    if kb.description:
        out["description"] = kb.description
    if kb.storage:
        out["storageConfiguration"] = kb.storage
    if kb.failure_reasons:
        out["failureReasons"] = kb.failure_reasons
    return out


def ds_wire(ds: DataSource) -> dict[str, Any]:
    out: dict[str, Any] = {
        "knowledgeBaseId": ds.knowledge_base_id,
        "dataSourceId": ds.data_source_id,
        "name": ds.name,
        "status": ds.status,
        "dataSourceConfiguration": ds.configuration,
        "dataDeletionPolicy": ds.deletion_policy,
        "createdAt": iso(ds.created_at),
        "updatedAt": iso(ds.updated_at),
    }
    if ds.description:
        out["description"] = ds.description
    if ds.ingestion:
        out["vectorIngestionConfiguration"] = ds.ingestion
    return out


def _summary(full: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: full[k] for k in keys if k in full}


# --- knowledge bases ---------------------------------------------------------------------------


@router.put("/knowledgebases/")
async def create_knowledge_base(request: Request, tenant: TenantDep, knowledge: KnowledgeDep) -> JSONResponse:
    body = await read_body(request, "CreateKnowledgeBase", {})
    kb = await knowledge.create_knowledge_base(tenant, body)
    if body.get("tags"):
        await knowledge.tag_resource(tenant, knowledge.kb_arn(kb), body["tags"])
    return JSONResponse({"knowledgeBase": kb_wire(kb, knowledge.region)}, status_code=202)


@router.post("/knowledgebases/")
async def list_knowledge_bases(
    request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    body = await read_body(request, "ListKnowledgeBases", {})
    offset, limit = paging(body)
    kbs, token = await knowledge.list_knowledge_bases(tenant, offset, limit)
    keys = ("knowledgeBaseId", "name", "description", "status", "updatedAt")
    out: dict[str, Any] = {
        "knowledgeBaseSummaries": [_summary(kb_wire(kb, knowledge.region), keys) for kb in kbs]
    }
    if token:
        out["nextToken"] = token
    return out


@router.get("/knowledgebases/{knowledge_base_id}")
async def get_knowledge_base(
    knowledge_base_id: str, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    validate_input(SERVICE, "GetKnowledgeBase", params={"knowledgeBaseId": knowledge_base_id})
    kb = await knowledge.get_knowledge_base(tenant, knowledge_base_id)
    return {"knowledgeBase": kb_wire(kb, knowledge.region)}


@router.put("/knowledgebases/{knowledge_base_id}")
async def update_knowledge_base(
    knowledge_base_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> JSONResponse:
    body = await read_body(request, "UpdateKnowledgeBase", {"knowledgeBaseId": knowledge_base_id})
    kb = await knowledge.update_knowledge_base(tenant, knowledge_base_id, body)
    return JSONResponse({"knowledgeBase": kb_wire(kb, knowledge.region)}, status_code=202)


@router.delete("/knowledgebases/{knowledge_base_id}")
async def delete_knowledge_base(
    knowledge_base_id: str, tenant: TenantDep, knowledge: KnowledgeDep
) -> JSONResponse:
    validate_input(SERVICE, "DeleteKnowledgeBase", params={"knowledgeBaseId": knowledge_base_id})
    kb = await knowledge.delete_knowledge_base(tenant, knowledge_base_id)
    return JSONResponse({"knowledgeBaseId": kb.knowledge_base_id, "status": "DELETING"}, status_code=202)


# --- data sources ------------------------------------------------------------------------------


@router.put("/knowledgebases/{knowledge_base_id}/datasources/")
async def create_data_source(
    knowledge_base_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    body = await read_body(request, "CreateDataSource", {"knowledgeBaseId": knowledge_base_id})
    ds = await knowledge.create_data_source(tenant, knowledge_base_id, body)
    return {"dataSource": ds_wire(ds)}


@router.post("/knowledgebases/{knowledge_base_id}/datasources/")
async def list_data_sources(
    knowledge_base_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    body = await read_body(request, "ListDataSources", {"knowledgeBaseId": knowledge_base_id})
    offset, limit = paging(body)
    sources, token = await knowledge.list_data_sources(tenant, knowledge_base_id, offset, limit)
    keys = ("knowledgeBaseId", "dataSourceId", "name", "status", "description", "updatedAt")
    out: dict[str, Any] = {"dataSourceSummaries": [_summary(ds_wire(ds), keys) for ds in sources]}
    if token:
        out["nextToken"] = token
    return out


@router.get("/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}")
async def get_data_source(
    knowledge_base_id: str, data_source_id: str, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    params = {"knowledgeBaseId": knowledge_base_id, "dataSourceId": data_source_id}
    validate_input(SERVICE, "GetDataSource", params=params)
    return {"dataSource": ds_wire(await knowledge.get_data_source(tenant, knowledge_base_id, data_source_id))}


@router.put("/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}")
async def update_data_source(
    knowledge_base_id: str, data_source_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    params = {"knowledgeBaseId": knowledge_base_id, "dataSourceId": data_source_id}
    body = await read_body(request, "UpdateDataSource", params)
    ds = await knowledge.update_data_source(tenant, knowledge_base_id, data_source_id, body)
    return {"dataSource": ds_wire(ds)}


@router.delete("/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}")
async def delete_data_source(
    knowledge_base_id: str, data_source_id: str, tenant: TenantDep, knowledge: KnowledgeDep
) -> JSONResponse:
    params = {"knowledgeBaseId": knowledge_base_id, "dataSourceId": data_source_id}
    validate_input(SERVICE, "DeleteDataSource", params=params)
    ds = await knowledge.delete_data_source(tenant, knowledge_base_id, data_source_id)
    body = {"knowledgeBaseId": ds.knowledge_base_id, "dataSourceId": ds.data_source_id, "status": "DELETING"}
    return JSONResponse(body, status_code=202)
