"""Typed clients for the gateway's knowledge bases: :class:`KnowledgeBasesClient` and its async twin.

They speak bedrock-agent (knowledge bases, data sources, IngestKnowledgeBaseDocuments and the
other document operations) and bedrock-agent-runtime (Retrieve, RetrieveAndGenerate) over HTTP,
signed and retried exactly like :class:`~model_layer.sdk.StrataClient` (they send through one),
with the same typed errors. Like the rest of the SDK they import no gateway code::

    from model_layer.sdk import KnowledgeBasesClient, text_document

    with KnowledgeBasesClient(url, api_key=key) as kbs:
        kb_id = kbs.create_knowledge_base("handbook", embedding_model="amazon.minilm-l6-v2:0")
        ds_id = kbs.create_data_source(kb_id, "inline")  # a CUSTOM source: documents sent inline
        kbs.ingest_documents(kb_id, ds_id, [text_document("faq-1", "Returns: 30 days.", kind="policy")])
        for chunk in kbs.retrieve(kb_id, "can I return it?", number_of_results=3):
            print(chunk.document_id, chunk.score, chunk.text)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from model_layer.sdk.client import _AsyncTransport, _SyncTransport

ROLE_ARN = "arn:aws:iam::000000000000:role/strata-kb"  # required by the API; the gateway keeps it
INGEST_BATCH = 10  # IngestKnowledgeBaseDocuments takes at most 10 documents a call (botocore's model)


def _q(value: str) -> str:
    return quote(value, safe="")


def _attribute(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"type": "BOOLEAN", "booleanValue": value}}
    if isinstance(value, (int, float)):
        return {"key": key, "value": {"type": "NUMBER", "numberValue": value}}
    if isinstance(value, (list, tuple)):
        return {"key": key, "value": {"type": "STRING_LIST", "stringListValue": [str(v) for v in value]}}
    return {"key": key, "value": {"type": "STRING", "stringValue": str(value)}}


def text_document(document_id: str, text: str, **metadata: Any) -> dict[str, Any]:
    """One inline text document for a CUSTOM data source, with metadata attributes to filter on."""
    document: dict[str, Any] = {
        "content": {
            "dataSourceType": "CUSTOM",
            "custom": {
                "customDocumentIdentifier": {"id": document_id},
                "sourceType": "IN_LINE",
                "inlineContent": {"type": "TEXT", "textContent": {"data": text}},
            },
        }
    }
    if metadata:
        document["metadata"] = {
            "type": "IN_LINE_ATTRIBUTE",
            "inlineAttributes": [_attribute(k, v) for k, v in metadata.items()],
        }
    return document


@dataclass(frozen=True)
class RetrievedChunk:
    """One Retrieve result: the chunk's text, its score, where it came from and its metadata."""

    text: str
    score: float
    location: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def document_id(self) -> str:
        """The custom document id, S3 URI or web URL the chunk came from."""
        loc = self.location
        for key, member in (("customDocumentLocation", "id"), ("s3Location", "uri"), ("webLocation", "url")):
            if key in loc:
                return str(loc[key].get(member, ""))
        return ""

    @classmethod
    def from_wire(cls, result: dict[str, Any]) -> RetrievedChunk:
        return cls(
            text=str((result.get("content") or {}).get("text", "")),
            score=float(result.get("score") or 0.0),
            location=dict(result.get("location") or {}),
            metadata=dict(result.get("metadata") or {}),
        )


@dataclass(frozen=True)
class GeneratedAnswer:
    """A RetrieveAndGenerate answer with its citations (AWS shapes) and session id."""

    text: str
    citations: list[dict[str, Any]]
    session_id: str
    guardrail_action: str | None = None


def _kb_body(name: str, embedding_model: str, description: str | None) -> dict[str, Any]:
    arn = embedding_model
    if not arn.startswith("arn:"):
        arn = f"arn:aws:bedrock:us-east-1::foundation-model/{embedding_model}"
    body: dict[str, Any] = {
        "name": name,
        "roleArn": ROLE_ARN,
        "knowledgeBaseConfiguration": {
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": arn},
        },
    }
    if description:
        body["description"] = description
    return body


def _retrieve_body(
    query: str, number_of_results: int, filter: dict[str, Any] | None, search_type: str | None
) -> dict[str, Any]:
    vector: dict[str, Any] = {"numberOfResults": number_of_results}
    if filter:
        vector["filter"] = filter
    if search_type:
        vector["overrideSearchType"] = search_type
    return {
        "retrievalQuery": {"text": query},
        "retrievalConfiguration": {"vectorSearchConfiguration": vector},
    }


def _rag_body(kb_id: str, query: str, model: str, session_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "input": {"text": query},
        "retrieveAndGenerateConfiguration": {
            "type": "KNOWLEDGE_BASE",
            "knowledgeBaseConfiguration": {"knowledgeBaseId": kb_id, "modelArn": model},
        },
    }
    if session_id:
        body["sessionId"] = session_id
    return body


def _answer(body: dict[str, Any]) -> GeneratedAnswer:
    return GeneratedAnswer(
        text=str((body.get("output") or {}).get("text", "")),
        citations=list(body.get("citations") or []),
        session_id=str(body.get("sessionId", "")),
        guardrail_action=body.get("guardrailAction"),
    )


def _batches(documents: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    items = list(documents)
    return [items[i : i + INGEST_BATCH] for i in range(0, len(items), INGEST_BATCH)]


def _doc_ids(ids: Iterable[str]) -> list[dict[str, Any]]:
    return [{"dataSourceType": "CUSTOM", "custom": {"id": i}} for i in ids]


class KnowledgeBasesClient(_SyncTransport):
    """Synchronous knowledge-base client; takes :class:`~model_layer.sdk.StrataClient`'s arguments."""

    def create_knowledge_base(
        self, name: str, *, embedding_model: str, description: str | None = None
    ) -> str:
        """Create a vector knowledge base; returns its id."""
        body = self._json("PUT", "/knowledgebases/", _kb_body(name, embedding_model, description))
        return str(body["knowledgeBase"]["knowledgeBaseId"])

    def get_knowledge_base(self, kb_id: str) -> dict[str, Any]:
        return self._json("GET", f"/knowledgebases/{_q(kb_id)}")["knowledgeBase"]

    def list_knowledge_bases(self) -> list[dict[str, Any]]:
        return list(self._json("POST", "/knowledgebases/", {}).get("knowledgeBaseSummaries", []))

    def delete_knowledge_base(self, kb_id: str) -> None:
        self._json("DELETE", f"/knowledgebases/{_q(kb_id)}")

    def create_data_source(
        self, kb_id: str, name: str, *, configuration: dict[str, Any] | None = None
    ) -> str:
        """Create a data source (default CUSTOM: documents sent with :meth:`ingest_documents`)."""
        body = {"name": name, "dataSourceConfiguration": configuration or {"type": "CUSTOM"}}
        created = self._json("PUT", f"/knowledgebases/{_q(kb_id)}/datasources/", body)
        return str(created["dataSource"]["dataSourceId"])

    def list_data_sources(self, kb_id: str) -> list[dict[str, Any]]:
        body = self._json("POST", f"/knowledgebases/{_q(kb_id)}/datasources/", {})
        return list(body.get("dataSourceSummaries", []))

    def ingest_documents(
        self, kb_id: str, ds_id: str, documents: Iterable[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Add or replace inline documents (sent 10 a call); returns each one's documentDetails."""
        path = f"/knowledgebases/{_q(kb_id)}/datasources/{_q(ds_id)}/documents"
        details: list[dict[str, Any]] = []
        for batch in _batches(documents):
            details.extend(self._json("PUT", path, {"documents": batch}).get("documentDetails", []))
        return details

    def delete_documents(self, kb_id: str, ds_id: str, document_ids: Iterable[str]) -> None:
        path = f"/knowledgebases/{_q(kb_id)}/datasources/{_q(ds_id)}/documents/deleteDocuments"
        ids = _doc_ids(document_ids)
        for start in range(0, len(ids), INGEST_BATCH):
            self._json("POST", path, {"documentIdentifiers": ids[start : start + INGEST_BATCH]})

    def list_documents(self, kb_id: str, ds_id: str) -> list[dict[str, Any]]:
        path = f"/knowledgebases/{_q(kb_id)}/datasources/{_q(ds_id)}/documents"
        details: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            body = self._json("POST", path, {"nextToken": token} if token else {})
            details.extend(body.get("documentDetails", []))
            token = body.get("nextToken")
            if not token:
                return details

    def retrieve(
        self,
        kb_id: str,
        query: str,
        *,
        number_of_results: int = 5,
        filter: dict[str, Any] | None = None,
        search_type: str | None = None,
    ) -> list[RetrievedChunk]:
        """Retrieve: the best chunks for ``query`` (``filter`` in AWS's RetrievalFilter shape)."""
        body = _retrieve_body(query, number_of_results, filter, search_type)
        results = self._json("POST", f"/knowledgebases/{_q(kb_id)}/retrieve", body)
        return [RetrievedChunk.from_wire(r) for r in results.get("retrievalResults", [])]

    def retrieve_and_generate(
        self, kb_id: str, query: str, *, model: str, session_id: str | None = None
    ) -> GeneratedAnswer:
        return _answer(self._json("POST", "/retrieveAndGenerate", _rag_body(kb_id, query, model, session_id)))


class AsyncKnowledgeBasesClient(_AsyncTransport):
    """The asyncio twin of :class:`KnowledgeBasesClient`."""

    async def create_knowledge_base(
        self, name: str, *, embedding_model: str, description: str | None = None
    ) -> str:
        body = await self._json("PUT", "/knowledgebases/", _kb_body(name, embedding_model, description))
        return str(body["knowledgeBase"]["knowledgeBaseId"])

    async def get_knowledge_base(self, kb_id: str) -> dict[str, Any]:
        return (await self._json("GET", f"/knowledgebases/{_q(kb_id)}"))["knowledgeBase"]

    async def list_knowledge_bases(self) -> list[dict[str, Any]]:
        return list((await self._json("POST", "/knowledgebases/", {})).get("knowledgeBaseSummaries", []))

    async def delete_knowledge_base(self, kb_id: str) -> None:
        await self._json("DELETE", f"/knowledgebases/{_q(kb_id)}")

    async def create_data_source(
        self, kb_id: str, name: str, *, configuration: dict[str, Any] | None = None
    ) -> str:
        body = {"name": name, "dataSourceConfiguration": configuration or {"type": "CUSTOM"}}
        created = await self._json("PUT", f"/knowledgebases/{_q(kb_id)}/datasources/", body)
        return str(created["dataSource"]["dataSourceId"])

    async def ingest_documents(
        self, kb_id: str, ds_id: str, documents: Iterable[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        path = f"/knowledgebases/{_q(kb_id)}/datasources/{_q(ds_id)}/documents"
        details: list[dict[str, Any]] = []
        for batch in _batches(documents):
            details.extend((await self._json("PUT", path, {"documents": batch})).get("documentDetails", []))
        return details

    async def retrieve(
        self,
        kb_id: str,
        query: str,
        *,
        number_of_results: int = 5,
        filter: dict[str, Any] | None = None,
        search_type: str | None = None,
    ) -> list[RetrievedChunk]:
        body = _retrieve_body(query, number_of_results, filter, search_type)
        results = await self._json("POST", f"/knowledgebases/{_q(kb_id)}/retrieve", body)
        return [RetrievedChunk.from_wire(r) for r in results.get("retrievalResults", [])]

    async def retrieve_and_generate(
        self, kb_id: str, query: str, *, model: str, session_id: str | None = None
    ) -> GeneratedAnswer:
        body = await self._json("POST", "/retrieveAndGenerate", _rag_body(kb_id, query, model, session_id))
        return _answer(body)
