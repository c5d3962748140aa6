"""RetrieveAndGenerate(Stream) for the KNOWLEDGE_BASE type: the request's configuration read,
the session kept (``kb_sessions``), one code path for both: the non-streaming call collects the
stream. The wire shapes are Bedrock's (``output``, ``citations``, ``sessionId``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from model_layer.errors import ResourceNotFoundException, ValidationException
from model_layer.knowledge.generation import (
    attribute,
    build_messages,
    build_system,
    cosines,
    split_sentences,
    text_deltas,
)
from model_layer.knowledge.records import RetrievalResult, foundation_model_id
from model_layer.types import ChatRequest, Tenant


@dataclass
class Prepared:
    session_id: str
    question: str
    turns: list[dict[str, str]]
    results: list[RetrievalResult]
    chat: ChatRequest
    embedding_model: str  # the KB's, to tell which result each sentence of the answer draws on


def _kb_config(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("retrieveAndGenerateConfiguration") or {}
    if config.get("type") != "KNOWLEDGE_BASE":
        raise ValidationException(
            "retrieveAndGenerateConfiguration.type EXTERNAL_SOURCES is not supported: use KNOWLEDGE_BASE"
        )
    kb = config.get("knowledgeBaseConfiguration")
    if not kb:
        raise ValidationException("retrieveAndGenerateConfiguration.knowledgeBaseConfiguration is required")
    generation = kb.get("generationConfiguration") or {}
    for where in (generation, kb.get("orchestrationConfiguration") or {}):
        if where.get("guardrailConfiguration"):
            raise ValidationException(
                "Guardrails on RetrieveAndGenerate are not supported by this gateway yet"
            )
    return kb


async def prepare(knowledge: Any, tenant: Tenant, body: dict[str, Any], request_id: str | None) -> Prepared:
    kb_config = _kb_config(body)
    question = body["input"]["text"]
    session_id = body.get("sessionId")
    turns: list[dict[str, str]] = []
    if session_id:
        found = await asyncio.to_thread(knowledge.store.get_session, tenant.tenant_id, session_id)
        if found is None:
            raise ResourceNotFoundException(f"Session {session_id} does not exist")
        turns = found
    else:
        session_id = str(uuid.uuid4())
    kb = await knowledge.get_knowledge_base(tenant, kb_config["knowledgeBaseId"])
    search = (kb_config.get("retrievalConfiguration") or {}).get("vectorSearchConfiguration") or {}
    query = (
        f"{turns[-1]['question']} {question}" if turns else question
    )  # a follow-up leans on the last question
    results = await knowledge.retrieve(
        tenant,
        kb_config["knowledgeBaseId"],
        query,
        number_of_results=search.get("numberOfResults", 5),
        search_type=search.get("overrideSearchType"),
        filter=search.get("filter"),
    )
    generation = kb_config.get("generationConfiguration") or {}
    template = (generation.get("promptTemplate") or {}).get("textPromptTemplate")
    if template is not None and "$search_results$" not in template:
        raise ValidationException("promptTemplate.textPromptTemplate must contain $search_results$")
    inference = (generation.get("inferenceConfig") or {}).get("textInferenceConfig") or {}
    model = knowledge.models.get_model(foundation_model_id(kb_config["modelArn"]), tenant)
    if model.kind != "chat":
        raise ValidationException(f"The model {kb_config['modelArn']} cannot generate text")
    chat = ChatRequest(
        model_id=model.model_id,
        messages=build_messages(turns, question),
        system=[{"text": build_system(template, results, question)}],
        max_tokens=inference.get("maxTokens") or None,
        temperature=inference.get("temperature"),
        top_p=inference.get("topP"),
        stop_sequences=inference.get("stopSequences") or [],
        extra=generation.get("additionalModelRequestFields") or {},
        request_id=request_id,
    )
    return Prepared(session_id, question, turns, results, chat, kb.embedding_model_id)


async def similarity(
    knowledge: Any, tenant: Tenant, prepared: Prepared, answer: str
) -> list[list[float]] | None:
    """Cosines between the answer's sentences and the results, by the KB's embedding model (one
    call, metered like the query's embedding); None when there is nothing to compare."""
    sentences = [text for _, text in split_sentences(answer)]
    passages = [r.content.get("text", "") for r in prepared.results]
    if not sentences or not passages:
        return None
    texts, vectors = sentences + passages, []
    batch = knowledge.settings.embed_batch  # the batches ingestion uses fit the request bounds
    for i in range(0, len(texts), batch):
        result = await knowledge.models.embed(tenant, prepared.embedding_model, texts[i : i + batch])
        vectors += result.vectors
    return cosines(vectors[: len(sentences)], vectors[len(sentences) :])


async def generate(
    knowledge: Any, tenant: Tenant, prepared: Prepared
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Stream events as (name, payload): ``output`` text deltas, then one ``citation`` per cited
    sentence. The session is saved once the answer is complete."""
    events = await knowledge.models.converse_stream(tenant, prepared.chat, "RetrieveAndGenerate")
    parts: list[str] = []
    async for delta in text_deltas(events):
        parts.append(delta)
        yield "output", {"text": delta}
    answer = "".join(parts)
    cosine = await similarity(knowledge, tenant, prepared, answer)
    for citation in attribute(answer, prepared.results, cosine):
        yield "citation", {**citation, "citation": citation}
    turns = [*prepared.turns, {"question": prepared.question, "answer": answer}][-20:]
    await asyncio.to_thread(knowledge.store.put_session, tenant.tenant_id, prepared.session_id, turns)


async def retrieve_and_generate(
    knowledge: Any, tenant: Tenant, body: dict[str, Any], request_id: str | None
) -> dict[str, Any]:
    prepared = await prepare(knowledge, tenant, body, request_id)
    text: list[str] = []
    citations: list[dict[str, Any]] = []
    async for name, payload in generate(knowledge, tenant, prepared):
        if name == "output":
            text.append(payload["text"])
        else:
            citations.append({k: v for k, v in payload.items() if k != "citation"})
    return {"output": {"text": "".join(text)}, "citations": citations, "sessionId": prepared.session_id}
