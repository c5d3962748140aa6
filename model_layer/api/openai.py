"""The OpenAI-compatible ``/v1`` API: models, chat completions (JSON and SSE), embeddings.

The router authenticates (bearer API key or SigV4, via the app's authenticator), translates with
the pure functions of :mod:`model_layer.wire.openai`, calls :class:`ModelService` and frames
the result. Errors use OpenAI's shape (``render_openai_error``, chosen by the app for ``/v1/``
paths): bad input is a 400 ``invalid_request_error``, never FastAPI's 422 or 500. Bodies are
parsed by the same strict parser as the Bedrock routes (``wire.json_body``) and then validated
with the wire models; their schemas are declared for ``/openapi.json`` by hand.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from model_layer.api.deps import ServiceDep, TenantDep, caller
from model_layer.api.disconnect import cancel_on_disconnect
from model_layer.api.error_handlers import render_error
from model_layer.api.streaming import GuardedStreamingResponse, chain, first_event, guarded
from model_layer.errors import GatewayError
from model_layer.guardrails.converse import invoke_guardrail_fields, openai_guardrail_config
from model_layer.service import ModelService
from model_layer.types import ModelInfo, StreamEvent, Tenant
from model_layer.wire.json_body import MalformedJSON, parse_json
from model_layer.wire.openai import (
    ChatCompletionRequest,
    ChunkTranslator,
    EmbeddingRequest,
    chat_request_from_openai,
    completion_from_response,
    embeddings_body,
    invalid,
)
from model_layer.wire.openapi import model_schema, request_body
from model_layer.wire.validate import check_max_tokens

router = APIRouter(prefix="/v1", tags=["openai"])
Body = TypeVar("Body", bound=pydantic.BaseModel)


async def _parse_body(request: Request, model: type[Body]) -> Body:
    """The request body, parsed strictly (as the Bedrock routes do) and validated with ``model``.

    Bodies are not FastAPI parameters: its parser answers a 500 for bytes that are not UTF-8 and
    lets NaN, lone surrogates and 10,000-deep nesting through.
    """
    try:
        data = parse_json(await request.body())
    except MalformedJSON as exc:
        raise invalid(f"We could not parse the JSON body of your request: {exc.reason}") from None
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _invalid_field(exc) from None


def _invalid_field(exc: pydantic.ValidationError) -> GatewayError:
    """The first validation error, in OpenAI's words, with ``param`` naming the field."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    if first["type"] == "missing":
        return invalid(f"Missing required parameter: '{where}'.{more}", where)
    return invalid(f"Invalid value for '{where}': {first['msg']}.{more}", where)


# --- routes -------------------------------------------------------------------------------------


def _model_entry(model_id: str, owned_by: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owned_by}


@router.get("/models")
async def list_models(tenant: TenantDep, service: ServiceDep) -> dict[str, Any]:
    data = [_model_entry(m.model_id, m.provider_name) for m in service.list_models(tenant)]
    return {"object": "list", "data": data}


@router.get("/models/{model_id:path}")
async def retrieve_model(model_id: str, tenant: TenantDep, service: ServiceDep) -> dict[str, Any]:
    model = service.get_model(model_id, tenant)
    return _model_entry(model.model_id, model.provider_name)


def _check_kind(service: ModelService, tenant: Tenant, model_id: str, kind: str, route: str) -> ModelInfo:
    model = service.get_model(model_id, tenant)
    if model.kind != kind:
        raise invalid(f"model {model_id!r} is a {model.kind} model; it cannot serve {route}", "model")
    return model


@router.post(
    "/chat/completions", response_model=None, openapi_extra=request_body(model_schema(ChatCompletionRequest))
)
async def chat_completions(
    request: Request,
) -> JSONResponse | GuardedStreamingResponse:
    tenant, service = await caller(request)
    body = await _parse_body(request, ChatCompletionRequest)
    request_id = request.state.request_id
    model = _check_kind(service, tenant, body.model, "chat", "/v1/chat/completions")
    chat = chat_request_from_openai(body, request_id)
    check_max_tokens(chat.max_tokens, model)
    # strata's extension: Converse's guardrailConfig as a body field (openai SDK: extra_body=...)
    guardrail = openai_guardrail_config((body.model_extra or {}).get("guardrailConfig"))
    completion_id, created = f"chatcmpl-{request_id}", int(time.time())
    if not body.stream:
        response = await cancel_on_disconnect(
            request, service.converse(tenant, chat, "ChatCompletions", guardrail)
        )
        payload = completion_from_response(
            response, model=body.model, completion_id=completion_id, created=created
        )
        if guardrail is not None:
            payload |= invoke_guardrail_fields(response.stop_reason, response.trace)
        return JSONResponse(payload)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    translator = ChunkTranslator(
        model=body.model, completion_id=completion_id, created=created, include_usage=include_usage
    )
    events = await service.converse_stream(tenant, chat, "ChatCompletionsStream", guardrail)
    # Wait for the first event before answering, so that an error the provider raises at once
    # (model not loaded, timeout) is a real HTTP error rather than an error inside a 200 stream.
    first = await first_event(events)

    def error_frame(exc: GatewayError) -> bytes:
        # The status line is already sent: report the error the way OpenAI does mid-stream.
        return _sse_data(json.loads(render_error(request, exc).body))

    frames = _sse(chain(first, events), translator)
    return GuardedStreamingResponse(
        guarded(frames, events, error_frame, "ChatCompletionsStream"),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-request-id": request_id},
    )


def _sse_data(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def _sse(events: AsyncIterator[StreamEvent], translator: ChunkTranslator) -> AsyncIterator[bytes]:
    yield _sse_data(translator.first())
    async for event in events:
        for chunk in translator.translate(event):
            yield _sse_data(chunk)
    yield b"data: [DONE]\n\n"


@router.post("/embeddings", response_model=None, openapi_extra=request_body(model_schema(EmbeddingRequest)))
async def create_embeddings(
    request: Request,
) -> JSONResponse:
    tenant, service = await caller(request)
    body = await _parse_body(request, EmbeddingRequest)
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or any(not t for t in texts):
        raise invalid("input must be a non-empty string or a list of non-empty strings", "input")
    if len(texts) > 2048:
        raise invalid("input takes at most 2048 strings", "input")
    _check_kind(service, tenant, body.model, "embedding", "/v1/embeddings")
    result = await service.embed(tenant, body.model, texts, request.state.request_id)
    if body.dimensions is not None and result.vectors and body.dimensions != len(result.vectors[0]):
        raise invalid(f"model {body.model!r} returns {len(result.vectors[0])} dimensions", "dimensions")
    return JSONResponse(
        embeddings_body(
            result.vectors,
            model=body.model,
            input_tokens=result.input_tokens,
            encoding_format=body.encoding_format,
        )
    )


# Served as plain Starlette routes too (see model_layer.app._add_plain_routes).
PLAIN_ROUTES = (chat_completions, create_embeddings)
