"""The bedrock-agent API for ingestion: Start/Get/List/StopIngestionJob and the document
operations (Ingest/Get/Delete/ListKnowledgeBaseDocuments). Handlers are named after the operation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from model_layer.api.deps import TenantDep
from model_layer.api.knowledge_bases import SERVICE, paging, read_body
from model_layer.api.knowledge_deps import KnowledgeDep
from model_layer.knowledge import documents
from model_layer.knowledge.records import IngestionJob, iso
from model_layer.wire.validate import validate_input

router = APIRouter(tags=["bedrock-agent"])
_DS = "/knowledgebases/{knowledge_base_id}/datasources/{data_source_id}"


def job_wire(job: IngestionJob) -> dict[str, Any]:
    out: dict[str, Any] = {
        "knowledgeBaseId": job.knowledge_base_id,
        "dataSourceId": job.data_source_id,
        "ingestionJobId": job.ingestion_job_id,
        "status": job.status,
        "statistics": job.statistics,
        "startedAt": iso(job.started_at),
        "updatedAt": iso(job.updated_at),
    }
    if job.description:
        out["description"] = job.description
    if job.failure_reasons:
        out["failureReasons"] = job.failure_reasons
    return out


def _ids(kb: str, ds: str, job: str | None = None) -> dict[str, str]:
    out = {"knowledgeBaseId": kb, "dataSourceId": ds}
    if job is not None:
        out["ingestionJobId"] = job
    return out


@router.put(_DS + "/ingestionjobs/")
async def start_ingestion_job(
    knowledge_base_id: str, data_source_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> JSONResponse:
    body = await read_body(request, "StartIngestionJob", _ids(knowledge_base_id, data_source_id))
    job = await knowledge.start_ingestion_job(
        tenant, knowledge_base_id, data_source_id, body.get("description")
    )
    return JSONResponse({"ingestionJob": job_wire(job)}, status_code=202)


@router.post(_DS + "/ingestionjobs/")
async def list_ingestion_jobs(
    knowledge_base_id: str, data_source_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    body = await read_body(request, "ListIngestionJobs", _ids(knowledge_base_id, data_source_id))
    offset, limit = paging(body)
    statuses = [
        v for f in body.get("filters", []) if f.get("attribute") == "STATUS" for v in f.get("values", [])
    ]
    ascending = body.get("sortBy", {}).get("order", "DESCENDING") == "ASCENDING"
    jobs, token = await knowledge.list_ingestion_jobs(
        tenant, knowledge_base_id, data_source_id, statuses or None, ascending, offset, limit
    )
    keys = (
        "knowledgeBaseId",
        "dataSourceId",
        "ingestionJobId",
        "description",
        "status",
        "startedAt",
        "updatedAt",
        "statistics",
    )
    out: dict[str, Any] = {
        "ingestionJobSummaries": [{k: v for k, v in job_wire(j).items() if k in keys} for j in jobs]
    }
    if token:
        out["nextToken"] = token
    return out


@router.get(_DS + "/ingestionjobs/{ingestion_job_id}")
async def get_ingestion_job(
    knowledge_base_id: str,
    data_source_id: str,
    ingestion_job_id: str,
    tenant: TenantDep,
    knowledge: KnowledgeDep,
) -> dict[str, Any]:
    validate_input(
        SERVICE, "GetIngestionJob", params=_ids(knowledge_base_id, data_source_id, ingestion_job_id)
    )
    job = await knowledge.get_ingestion_job(tenant, knowledge_base_id, data_source_id, ingestion_job_id)
    return {"ingestionJob": job_wire(job)}


@router.post(_DS + "/ingestionjobs/{ingestion_job_id}/stop")
async def stop_ingestion_job(
    knowledge_base_id: str, data_source_id: str, ingestion_job_id: str, request: Request, tenant: TenantDep,
    knowledge: KnowledgeDep,
) -> JSONResponse:  # fmt: skip
    await read_body(request, "StopIngestionJob", _ids(knowledge_base_id, data_source_id, ingestion_job_id))
    job = await knowledge.stop_ingestion_job(tenant, knowledge_base_id, data_source_id, ingestion_job_id)
    return JSONResponse({"ingestionJob": job_wire(job)}, status_code=202)


# --- documents ---------------------------------------------------------------------------------


@router.put(_DS + "/documents")
async def ingest_knowledge_base_documents(
    knowledge_base_id: str, data_source_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> JSONResponse:
    body = await read_body(request, "IngestKnowledgeBaseDocuments", _ids(knowledge_base_id, data_source_id))
    details = await documents.ingest_documents(
        knowledge, tenant, knowledge_base_id, data_source_id, body["documents"]
    )
    return JSONResponse({"documentDetails": details}, status_code=202)


@router.post(_DS + "/documents")
async def list_knowledge_base_documents(
    knowledge_base_id: str, data_source_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    body = await read_body(request, "ListKnowledgeBaseDocuments", _ids(knowledge_base_id, data_source_id))
    offset, limit = paging(body)
    details, token = await documents.list_documents(
        knowledge, tenant, knowledge_base_id, data_source_id, offset, limit
    )
    out: dict[str, Any] = {"documentDetails": details}
    if token:
        out["nextToken"] = token
    return out


@router.post(_DS + "/documents/getDocuments")
async def get_knowledge_base_documents(
    knowledge_base_id: str, data_source_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    body = await read_body(request, "GetKnowledgeBaseDocuments", _ids(knowledge_base_id, data_source_id))
    ids = body["documentIdentifiers"]
    return {
        "documentDetails": await documents.get_documents(
            knowledge, tenant, knowledge_base_id, data_source_id, ids
        )
    }


@router.post(_DS + "/documents/deleteDocuments")
async def delete_knowledge_base_documents(
    knowledge_base_id: str, data_source_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> JSONResponse:
    body = await read_body(request, "DeleteKnowledgeBaseDocuments", _ids(knowledge_base_id, data_source_id))
    ids = body["documentIdentifiers"]
    details = await documents.delete_documents(knowledge, tenant, knowledge_base_id, data_source_id, ids)
    return JSONResponse({"documentDetails": details}, status_code=202)
