"""RetrieveAndGenerate(Stream) for the KNOWLEDGE_BASE type: the request's configuration read,
the session kept (``kb_sessions``), one code path for both: the non-streaming call collects the
stream. The wire shapes are Bedrock's (``output``, ``citations``, ``sessionId``, and with a
guardrail ``guardrailAction`` / the stream's ``guardrail`` event: :mod:`~model_layer.knowledge.guard`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from model_layer.errors import ResourceNotFoundException, ValidationException
from model_layer.knowledge import guard as kb_guard
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
    guard: kb_guard.QueryGuard | None = None  # generationConfiguration.guardrailConfiguration


def _kb_config(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("retrieveAndGenerateConfiguration") or {}
    if config.get("type") != "KNOWLEDGE_BASE":
        raise ValidationException(
            "retrieveAndGenerateConfiguration.type EXTERNAL_SOURCES is not supported: use KNOWLEDGE_BASE"
        )
    kb = config.get("knowledgeBaseConfiguration")
    if not kb:
        raise ValidationException("retrieveAndGenerateConfiguration.knowledgeBaseConfiguration is required")
    return kb


async def prepare(knowledge: Any, tenant: Tenant, body: dict[str, Any], request_id: str | None) -> Prepared:
    """Everything the answer needs; what the request got wrong is refused before any work (the
    guardrail's input check, retrieval, the model call)."""
    kb_config = _kb_config(body)
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
    generation = kb_config.get("generationConfiguration") or {}
    template = (generation.get("promptTemplate") or {}).get("textPromptTemplate")
    if template is not None and "$search_results$" not in template:
        raise ValidationException("promptTemplate.textPromptTemplate must contain $search_results$")
    model = knowledge.models.get_model(foundation_model_id(kb_config["modelArn"]), tenant)
    if model.kind != "chat":
        raise ValidationException(f"The model {kb_config['modelArn']} cannot generate text")
    guard, question = None, body["input"]["text"]
    config = kb_guard.config_from(generation.get("guardrailConfiguration"))
    if config is not None:
        guard = await kb_guard.resolve(knowledge.models, tenant, config, "RetrieveAndGenerate", request_id)
        question = await kb_guard.check_query(knowledge.models, tenant, guard, question)
    results: list[RetrievalResult] = []
    if question is not None:  # a blocked question retrieves nothing and never reaches the model
        results = await _retrieve(knowledge, tenant, kb_config, turns, question)
    inference = (generation.get("inferenceConfig") or {}).get("textInferenceConfig") or {}
    chat = ChatRequest(
        model_id=model.model_id,
        messages=build_messages(turns, question or ""),
        system=[{"text": build_system(template, results, question or "")}],
        max_tokens=inference.get("maxTokens") or None,
        temperature=inference.get("temperature"),
        top_p=inference.get("topP"),
        stop_sequences=inference.get("stopSequences") or [],
        extra=generation.get("additionalModelRequestFields") or {},
        request_id=request_id,
    )
    return Prepared(session_id, question or "", turns, results, chat, kb.embedding_model_id, guard)


async def _retrieve(
    knowledge: Any, tenant: Tenant, kb_config: dict[str, Any], turns: list[dict[str, str]], question: str
) -> list[RetrievalResult]:
    search = (kb_config.get("retrievalConfiguration") or {}).get("vectorSearchConfiguration") or {}
    query = (
        f"{turns[-1]['question']} {question}" if turns else question
    )  # a follow-up leans on the last question
    return await knowledge.retrieve(
        tenant,
        kb_config["knowledgeBaseId"],
        query,
        number_of_results=search.get("numberOfResults", 5),
        search_type=search.get("overrideSearchType"),
        filter=search.get("filter"),
    )


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
    """Stream events as (name, payload): ``output`` text deltas, with a guardrail one ``guardrail``
    event (its action), then one ``citation`` per cited sentence — none when the guardrail blocked
    the question or the answer. The session is saved once the answer is complete."""
    guard = prepared.guard
    if guard is not None and guard.query_blocked:
        yield "output", {"text": guard.blocked_input_message}
        yield "guardrail", {"action": guard.action}
        await _save(knowledge, tenant, prepared, None)  # the session lives on, without the blocked turn
        return
    # The answer's guard runs inside the model call's metering (``checked``): a blocked answer
    # is a complete call, metered with the tokens produced up to the block.
    checked = guard.call if guard is not None else None
    events = await knowledge.models.converse_stream(
        tenant, prepared.chat, "RetrieveAndGenerate", checked=checked
    )
    parts: list[str] = []
    async for delta in text_deltas(events):
        parts.append(delta)
        yield "output", {"text": delta}
    answer = "".join(parts)
    if guard is not None:
        yield "guardrail", {"action": guard.action}
        if guard.answer_blocked:
            await _save(knowledge, tenant, prepared, guard.blocked_output_message)
            return
    cosine = await similarity(knowledge, tenant, prepared, answer)
    for citation in attribute(answer, prepared.results, cosine):
        yield "citation", {**citation, "citation": citation}
    await _save(knowledge, tenant, prepared, answer)


async def _save(knowledge: Any, tenant: Tenant, prepared: Prepared, answer: str | None) -> None:
    """The session's turns with this one (the question as checked: masked, if it was), unless
    ``answer`` is None."""
    turns = prepared.turns
    if answer is not None:
        turns = [*turns, {"question": prepared.question, "answer": answer}][-20:]
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
        elif name == "citation":
            citations.append({k: v for k, v in payload.items() if k != "citation"})
    answer: dict[str, Any] = {"output": {"text": "".join(text)}, "citations": citations}
    guard = prepared.guard
    if guard is not None:
        if guard.answer_blocked:  # the whole answer is the blocked message, as Bedrock answers it
            answer["output"]["text"] = guard.blocked_output_message
        answer["guardrailAction"] = guard.action
    return {**answer, "sessionId": prepared.session_id}
