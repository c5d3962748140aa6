"""Documents pushed to a data source directly: IngestKnowledgeBaseDocuments (CUSTOM inline text
or bytes, or an S3 object), GetKnowledgeBaseDocuments, DeleteKnowledgeBaseDocuments and
ListKnowledgeBaseDocuments.

Pushed documents are indexed before the call returns (the job-less path AWS offers for small,
frequent updates), through the same :class:`~model_layer.knowledge.indexing.Indexer` as jobs,
and recorded in the same document ledger.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

from model_layer.errors import ValidationException
from model_layer.knowledge.indexing import Indexer
from model_layer.knowledge.parsing import DocumentError, attribute_value
from model_layer.knowledge.records import DocumentRecord, iso, now
from model_layer.types import Tenant

_EXTENSION_BY_MIME = {
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/html": ".html",
    "text/csv": ".csv",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


def identifier_uri(identifier: dict[str, Any]) -> str:
    if identifier.get("dataSourceType") == "S3":
        return identifier.get("s3", {}).get("uri", "")
    return identifier.get("custom", {}).get("id", "")


def identifier_of(uri: str) -> dict[str, Any]:
    if uri.startswith("s3://"):
        return {"dataSourceType": "S3", "s3": {"uri": uri}}
    return {"dataSourceType": "CUSTOM", "custom": {"id": uri}}


def detail(
    ds: Any, uri: str, status: str, reason: str | None = None, at: float | None = None
) -> dict[str, Any]:
    out = {
        "knowledgeBaseId": ds.knowledge_base_id,
        "dataSourceId": ds.data_source_id,
        "status": status,
        "identifier": identifier_of(uri),
        "updatedAt": iso(at or now()),
    }
    if reason:
        out["statusReason"] = reason
    return out


def _inline_attributes(metadata: dict[str, Any] | None) -> dict[str, Any]:
    if not metadata:
        return {}
    if metadata.get("type") != "IN_LINE_ATTRIBUTE":
        raise DocumentError("Only IN_LINE_ATTRIBUTE metadata is supported for pushed documents")
    return {a["key"]: attribute_value({"value": a["value"]}) for a in metadata.get("inlineAttributes", [])}


def _content(knowledge: Any, content: dict[str, Any]) -> tuple[str, str, bytes]:
    """(uri, file name for the parser, bytes) of one DocumentContent."""
    if content["dataSourceType"] == "S3":
        uri = content.get("s3", {}).get("s3Location", {}).get("uri", "")
        return uri, uri.rsplit("/", 1)[-1], _read_s3(knowledge, uri)
    custom = content.get("custom") or {}
    uri = custom.get("customDocumentIdentifier", {}).get("id", "")
    if custom.get("sourceType") == "S3_LOCATION":
        s3_uri = custom.get("s3Location", {}).get("uri", "")
        return uri, s3_uri.rsplit("/", 1)[-1], _read_s3(knowledge, s3_uri)
    inline = custom.get("inlineContent") or {}
    if inline.get("type") == "BYTE":
        raw = inline.get("byteContent", {})
        try:
            data = base64.b64decode(raw.get("data", ""), validate=True)
        except (binascii.Error, ValueError):
            raise DocumentError("byteContent.data is not valid base64") from None
        ext = _EXTENSION_BY_MIME.get(raw.get("mimeType", ""), "")
        return uri, f"document{ext}", data
    return uri, "document.txt", inline.get("textContent", {}).get("data", "").encode()


def _read_s3(knowledge: Any, uri: str) -> bytes:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise DocumentError(f"Not an S3 object URI: {uri}")
    bucket, key = uri[5:].split("/", 1)
    try:
        return knowledge._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise DocumentError(f"The S3 object could not be read ({type(exc).__name__})") from None


async def ingest_documents(
    knowledge: Any, tenant: Tenant, kb_id: str, ds_id: str, documents: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    ds = await knowledge.get_data_source(tenant, kb_id, ds_id)
    kb = await knowledge.get_knowledge_base(tenant, kb_id)
    expected = "CUSTOM" if ds.source_type == "CUSTOM" else "S3"
    indexer = Indexer(knowledge.models, knowledge.vectors, knowledge.collection(kb), kb, ds, tenant)
    out = []
    for document in documents:
        content = document["content"]
        if content["dataSourceType"] != expected:
            raise ValidationException(f"This data source takes {expected} documents")
        uri = ""
        try:
            uri, name, data = await asyncio.to_thread(_content, knowledge, content)
            attributes = _inline_attributes(document.get("metadata"))
            prepared = await indexer.prepare(uri, name, data, attributes, knowledge.settings.max_file_bytes)
            await indexer.write([prepared], knowledge.settings.embed_batch)
            record = DocumentRecord(
                ds.data_source_id,
                uri,
                kb.knowledge_base_id,
                None,
                None,
                len(prepared.chunks),
                "INDEXED",
                None,
                now(),
            )
        except DocumentError as exc:
            await asyncio.to_thread(indexer.forget, uri)
            record = DocumentRecord(
                ds.data_source_id, uri, kb.knowledge_base_id, None, None, 0, "FAILED", str(exc), now()
            )
        await asyncio.to_thread(knowledge.store.put_document, record, tenant.tenant_id)
        out.append(detail(ds, uri, record.status, record.status_reason, record.updated_at))
    await asyncio.to_thread(knowledge.store.bump_index_version, kb.knowledge_base_id)
    return out


async def get_documents(
    knowledge: Any, tenant: Tenant, kb_id: str, ds_id: str, identifiers: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    ds = await knowledge.get_data_source(tenant, kb_id, ds_id)
    ledger = await asyncio.to_thread(knowledge.store.documents, ds.data_source_id)
    out = []
    for identifier in identifiers:
        uri = identifier_uri(identifier)
        doc = ledger.get(uri)
        if doc is None:
            out.append(detail(ds, uri, "NOT_FOUND"))
        else:
            out.append(detail(ds, uri, doc.status, doc.status_reason, doc.updated_at))
    return out


async def delete_documents(
    knowledge: Any, tenant: Tenant, kb_id: str, ds_id: str, identifiers: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    ds = await knowledge.get_data_source(tenant, kb_id, ds_id)
    kb = await knowledge.get_knowledge_base(tenant, kb_id)
    indexer = Indexer(knowledge.models, knowledge.vectors, knowledge.collection(kb), kb, ds, tenant)
    out = []
    for identifier in identifiers:
        uri = identifier_uri(identifier)
        await asyncio.to_thread(indexer.forget, uri)
        await asyncio.to_thread(knowledge.store.delete_document, ds.data_source_id, uri)
        out.append(detail(ds, uri, "DELETING"))
    await asyncio.to_thread(knowledge.store.bump_index_version, kb.knowledge_base_id)
    return out


async def list_documents(
    knowledge: Any, tenant: Tenant, kb_id: str, ds_id: str, offset: int, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    ds = await knowledge.get_data_source(tenant, kb_id, ds_id)
    docs, token = await asyncio.to_thread(knowledge.store.list_documents, ds.data_source_id, offset, limit)
    return [detail(ds, d.uri, d.status, d.status_reason, d.updated_at) for d in docs], token
