"""The bedrock-agent-runtime API for knowledge bases: Retrieve, RetrieveAndGenerate,
RetrieveAndGenerateStream (AWS event-stream framing) and Rerank. A guardrail on the query (and, when
generating, on the answer) is :mod:`model_layer.knowledge.guard`.

Errors render with bedrock-agent-runtime's statuses (:mod:`model_layer.api.collisions`).
Errors found before the stream's first event are plain HTTP errors; later ones are
``:message-type exception`` events. Rerank needs a reranking model, which no installable package
provides offline here, so it answers a ValidationException saying so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from model_layer.api.deps import TenantDep, request_id
from model_layer.api.knowledge_deps import KnowledgeDep
from model_layer.api.streaming import GuardedStreamingResponse
from model_layer.errors import GatewayError, InternalServerException, ValidationException
from model_layer.knowledge import guard as kb_guard
from model_layer.knowledge import paging, rag
from model_layer.wire import eventstream
from model_layer.wire.validate import parse_json_body, validate_input

router = APIRouter(tags=["bedrock-agent-runtime"])
SERVICE = "bedrock-agent-runtime"
SESSION_HEADER = "x-amzn-bedrock-knowledge-base-session-id"


class EventStreamResponse(GuardedStreamingResponse):
    media_type = eventstream.CONTENT_TYPE


@router.post("/knowledgebases/{knowledge_base_id}/retrieve")
async def retrieve(
    knowledge_base_id: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    body = parse_json_body(await request.body())
    validate_input(SERVICE, "Retrieve", body, {"knowledgeBaseId": knowledge_base_id})
    fingerprint = paging.fingerprint(knowledge_base_id, body)
    start = paging.decode(body["nextToken"], fingerprint) if body.get("nextToken") else 0
    query = body["retrievalQuery"]
    if query.get("type", "TEXT") != "TEXT" or "text" not in query:
        raise ValidationException("retrievalQuery.text is required: only TEXT queries are supported")
    search = (body.get("retrievalConfiguration") or {}).get("vectorSearchConfiguration") or {}
    _refuse_unsupported(search)
    flt = _filter(search)
    text, guard = await _guarded_query(knowledge, tenant, knowledge_base_id, body, request_id(request))
    extra = {} if guard is None else {"guardrailAction": guard.action}
    if text is None:  # the guardrail blocked the query: nothing is retrieved
        return {"retrievalResults": [], **extra}
    results = await knowledge.retrieve(
        tenant,
        knowledge_base_id,
        text,
        number_of_results=search.get("numberOfResults", 5),
        search_type=search.get("overrideSearchType"),
        filter=flt,
    )
    wire, following = paging.page(
        [r.to_wire() for r in results], start, knowledge.settings.retrieve_page_bytes
    )
    if following is not None:
        extra["nextToken"] = paging.encode(following, fingerprint)
    return {"retrievalResults": wire, **extra}


async def _guarded_query(
    knowledge: Any, tenant: Any, knowledge_base_id: str, body: dict[str, Any], rid: str | None
) -> tuple[str | None, kb_guard.QueryGuard | None]:
    """The query through ``guardrailConfiguration`` (None if blocked; masked if it had to be).
    The knowledge base and the guardrail are looked up first: a request naming either wrongly
    is refused before the guardrail's work is done (and its text units recorded)."""
    text = body["retrievalQuery"]["text"]
    config = kb_guard.config_from(body.get("guardrailConfiguration"))
    if config is None:
        return text, None
    await knowledge.get_knowledge_base(tenant, knowledge_base_id)
    guard = await kb_guard.resolve(knowledge.models, tenant, config, "Retrieve", rid)
    return await kb_guard.check_query(knowledge.models, tenant, guard, text), guard


def _filter(search: dict[str, Any]) -> dict[str, Any] | None:
    flt = search.get("filter")
    if flt is None:
        return None
    from model_layer.knowledge.filters import check_filter

    check_filter(flt, "retrievalConfiguration.vectorSearchConfiguration.filter")
    return flt


def _refuse_unsupported(search: dict[str, Any]) -> None:
    for name in ("rerankingConfiguration", "implicitFilterConfiguration"):
        if search.get(name):
            raise ValidationException(f"vectorSearchConfiguration.{name} is not supported by this gateway")


async def _rag_body(request: Request, operation: str) -> dict[str, Any]:
    body = parse_json_body(await request.body())
    validate_input(SERVICE, operation, body, {})
    config = (body.get("retrieveAndGenerateConfiguration") or {}).get("knowledgeBaseConfiguration") or {}
    search = (config.get("retrievalConfiguration") or {}).get("vectorSearchConfiguration") or {}
    _refuse_unsupported(search)
    if search.get("filter") is not None:
        _filter(search)
    if body.get("sessionConfiguration"):
        raise ValidationException(
            "sessionConfiguration (KMS encryption of sessions) is not supported by this gateway"
        )
    return body


@router.post("/retrieveAndGenerate")
async def retrieve_and_generate(request: Request, tenant: TenantDep, knowledge: KnowledgeDep) -> JSONResponse:
    body = await _rag_body(request, "RetrieveAndGenerate")
    answer = await rag.retrieve_and_generate(knowledge, tenant, body, request_id(request))
    return JSONResponse(answer)


@router.post("/retrieveAndGenerateStream")
async def retrieve_and_generate_stream(
    request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> Response:
    body = await _rag_body(request, "RetrieveAndGenerateStream")
    prepared = await rag.prepare(knowledge, tenant, body, request_id(request))
    events = rag.generate(knowledge, tenant, prepared)
    first = await anext(events, None)  # a refusal before the first event is a plain HTTP error
    return EventStreamResponse(_frames(first, events), headers={SESSION_HEADER: prepared.session_id})


async def _frames(
    first: tuple[str, dict[str, Any]] | None, events: AsyncIterator[tuple[str, dict[str, Any]]]
) -> AsyncIterator[bytes]:
    try:
        if first is not None:
            yield eventstream.encode_event(*first)
        async for name, payload in events:
            yield eventstream.encode_event(name, payload)
    except GatewayError as exc:
        yield eventstream.encode_stream_failure(exc, SERVICE, "RetrieveAndGenerateStream")
    except Exception:
        import logging

        logging.getLogger("strata.gateway").exception("RetrieveAndGenerateStream failed mid-stream")
        yield eventstream.encode_stream_failure(
            InternalServerException("Internal server error"), SERVICE, "RetrieveAndGenerateStream"
        )
    finally:
        await events.aclose()


@router.post("/rerank")
async def rerank(request: Request, tenant: TenantDep) -> Response:
    body = parse_json_body(await request.body())
    validate_input(SERVICE, "Rerank", body, {})
    raise ValidationException(
        "Rerank needs a reranking model and this gateway serves none; use overrideSearchType HYBRID"
    )
