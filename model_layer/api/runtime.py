"""The bedrock-runtime API: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream, CountTokens.

Handlers are named after the operation they serve. Each one: authenticate (``current_tenant``) →
validate against botocore's model (``wire.validate``) → translate (``wire.converse`` /
``wire.invoke``) → call the :class:`ModelService` → translate back. Errors found before the first
byte of a stream (including the provider's first event) are ordinary HTTP errors; later ones are
``:message-type exception`` events. A client that disconnects closes the service stream, which
stops the provider.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from model_layer.api.deps import caller, request_id, request_timeout
from model_layer.api.disconnect import cancel_on_disconnect
from model_layer.api.streaming import GuardedStreamingResponse, chain, first_event, guarded
from model_layer.errors import GatewayError, ValidationException
from model_layer.guardrails.converse import GuardrailConfig, invoke_guardrail_config, invoke_guardrail_fields
from model_layer.service import ModelService
from model_layer.types import ChatRequest, Metadata, ModelInfo, StreamEvent, Usage
from model_layer.wire import eventstream
from model_layer.wire.converse import chat_request_from_converse, converse_response, converse_stream_event
from model_layer.wire.invoke import (
    ChatFamily,
    chat_family_for,
    check_media_types,
    embedding_family_for,
    invocation_metrics,
    native_body_schema,
    parse_native_body,
    usage_headers,
)
from model_layer.wire.openapi import bedrock_body_schema, request_body
from model_layer.wire.validate import (
    bind_params,
    check_converse,
    check_max_tokens,
    parse_json_body,
    validate_input,
)

router = APIRouter(tags=["bedrock-runtime"])
SERVICE = "bedrock-runtime"
_UNSUPPORTED_MODEL = (
    "This action doesn't support the model that you provided. Try again with a supported text or chat model."
)


def _body_doc(operation: str) -> dict[str, Any]:
    """The operation's body schema (from botocore's model) for ``/openapi.json``."""
    return request_body(bedrock_body_schema(SERVICE, operation))


class EventStreamResponse(GuardedStreamingResponse):
    media_type = eventstream.CONTENT_TYPE


# --- Converse / ConverseStream -------------------------------------------------------------------


@router.post("/model/{model_id:path}/converse", openapi_extra=_body_doc("Converse"))
async def converse(
    model_id: str,
    request: Request,
) -> Response:
    tenant, service = await caller(request)
    body = parse_json_body(await request.body())
    chat = _converse_input(request, service, model_id, body, "Converse")
    guardrail = GuardrailConfig.from_converse(body.get("guardrailConfig"))
    response = await cancel_on_disconnect(request, service.converse(tenant, chat, "Converse", guardrail))
    return JSONResponse(converse_response(response, body.get("additionalModelResponseFieldPaths")))


@router.post("/model/{model_id:path}/converse-stream", openapi_extra=_body_doc("ConverseStream"))
async def converse_stream(
    model_id: str,
    request: Request,
) -> Response:
    tenant, service = await caller(request)
    body = parse_json_body(await request.body())
    chat = _converse_input(request, service, model_id, body, "ConverseStream")
    guardrail = GuardrailConfig.from_converse(body.get("guardrailConfig"))
    events = await service.converse_stream(tenant, chat, "ConverseStream", guardrail)
    first = await first_event(events)
    paths = body.get("additionalModelResponseFieldPaths")
    return EventStreamResponse(_converse_frames(first, events, paths))


def _converse_input(
    request: Request, service: ModelService, model_id: str, body: dict[str, Any], operation: str
) -> ChatRequest:
    validate_input(SERVICE, operation, body, {"modelId": model_id})
    check_converse(body)
    model = service.get_model(model_id)
    if model.kind != "chat":
        raise ValidationException(_UNSUPPORTED_MODEL)
    if operation == "ConverseStream" and not model.streaming:
        raise ValidationException(f"The model {model.model_id} is unsupported for streaming.")
    chat = chat_request_from_converse(
        model.model_id, body, request_id=request_id(request), timeout_s=request_timeout(request)
    )
    check_max_tokens(chat.max_tokens, model)
    return chat


async def _converse_frames(
    first: StreamEvent | None, events: AsyncIterator[StreamEvent], paths: list[str] | None
) -> AsyncIterator[bytes]:
    async def encode() -> AsyncIterator[bytes]:
        async for event in chain(first, events):
            pair = converse_stream_event(event, paths)
            if pair is not None:
                yield eventstream.encode_event(*pair)

    async for frame in guarded(encode(), events, _stream_failure("ConverseStream"), "ConverseStream"):
        yield frame


# --- InvokeModel / InvokeModelWithResponseStream ---------------------------------------------------


@router.post("/model/{model_id:path}/invoke", openapi_extra=request_body(native_body_schema()))
async def invoke_model(
    model_id: str,
    request: Request,
) -> Response:
    tenant, service = await caller(request)
    model, raw, guardrail = await _invoke_input(request, service, model_id, "InvokeModel")
    started = time.monotonic()
    if model.kind == "embedding":
        embedder = embedding_family_for(model)
        body = parse_native_body(raw, embedder)
        result = await service.embed(tenant, model.model_id, embedder.texts(body), request_id(request))
        payload = embedder.to_response(body, result)
        usage, latency = Usage(input_tokens=result.input_tokens), _ms_since(started)
    else:
        family = chat_family_for(model)
        chat = _chat_from_native(request, model, family, parse_native_body(raw, family))
        response = await cancel_on_disconnect(
            request, service.converse(tenant, chat, "InvokeModel", guardrail)
        )
        payload = family.to_response(model, response)
        if guardrail is not None:
            payload |= invoke_guardrail_fields(response.stop_reason, response.trace)
        usage, latency = response.usage, response.latency_ms or _ms_since(started)
    return Response(
        json.dumps(payload, ensure_ascii=False),
        media_type="application/json",
        headers=usage_headers(usage, latency),
    )


@router.post(
    "/model/{model_id:path}/invoke-with-response-stream", openapi_extra=request_body(native_body_schema())
)
async def invoke_model_with_response_stream(
    model_id: str,
    request: Request,
) -> Response:
    tenant, service = await caller(request)
    model, raw, guardrail = await _invoke_input(request, service, model_id, "InvokeModelWithResponseStream")
    if model.kind != "chat" or not model.streaming:
        raise ValidationException(f"The model {model.model_id} is unsupported for streaming.")
    family = chat_family_for(model)
    chat = _chat_from_native(request, model, family, parse_native_body(raw, family))
    started = time.monotonic()
    events = await service.converse_stream(tenant, chat, "InvokeModelWithResponseStream", guardrail)
    first = await first_event(events)
    frames = _invoke_frames(first, events, family, model, started, guardrail is not None)
    return EventStreamResponse(frames, headers={"X-Amzn-Bedrock-Content-Type": "application/json"})


async def _invoke_input(
    request: Request, service: ModelService, model_id: str, operation: str
) -> tuple[ModelInfo, bytes, GuardrailConfig | None]:
    """Check the header and path members, resolve the model; the body is the family's to parse."""
    params = bind_params(SERVICE, operation, path={"modelId": model_id}, headers=request.headers)
    validate_input(SERVICE, operation, params=params)
    check_media_types(params.get("contentType"), params.get("accept"))
    return service.get_model(model_id), await request.body(), invoke_guardrail_config(params)


def _chat_from_native(
    request: Request, model: ModelInfo, family: ChatFamily, body: dict[str, Any]
) -> ChatRequest:
    chat = family.to_request(model.model_id, body)
    chat.request_id, chat.timeout_s = request_id(request), request_timeout(request)
    check_max_tokens(chat.max_tokens, model)
    return chat


async def _invoke_frames(
    first: StreamEvent | None,
    events: AsyncIterator[StreamEvent],
    family: ChatFamily,
    model: ModelInfo,
    started: float,
    with_guardrail: bool = False,
) -> AsyncIterator[bytes]:
    translator = family.stream(model)
    first_byte_ms = _ms_since(started)

    async def encode() -> AsyncIterator[bytes]:
        stop_reason = None
        async for event in chain(first, events):
            chunks = translator.translate(event)
            stop_reason = getattr(event, "stop_reason", stop_reason)
            if isinstance(event, Metadata) and chunks:
                metrics = invocation_metrics(event.usage, _ms_since(started), first_byte_ms)
                chunks[-1]["amazon-bedrock-invocationMetrics"] = metrics
                if with_guardrail:
                    chunks[-1] |= invoke_guardrail_fields(stop_reason, event.trace)
            for chunk in chunks:
                data = json.dumps(chunk, separators=(",", ":"), ensure_ascii=False).encode()
                yield eventstream.encode_event("chunk", {"bytes": base64.b64encode(data).decode()})

    op = "InvokeModelWithResponseStream"
    async for frame in guarded(encode(), events, _stream_failure(op), op):
        yield frame


# --- CountTokens ---------------------------------------------------------------------------------


@router.post("/model/{model_id:path}/count-tokens", openapi_extra=_body_doc("CountTokens"))
async def count_tokens(
    model_id: str,
    request: Request,
) -> Response:
    tenant, service = await caller(request)
    body = parse_json_body(await request.body())
    validate_input(SERVICE, "CountTokens", body, {"modelId": model_id})
    model = service.get_model(model_id)
    if model.kind != "chat":
        raise ValidationException(_UNSUPPORTED_MODEL)
    source = body["input"]
    if "converse" in source:
        check_converse(source["converse"])
        chat = chat_request_from_converse(model.model_id, source["converse"], request_id=request_id(request))
    else:
        family = chat_family_for(model)
        native = parse_native_body(base64.b64decode(source["invokeModel"]["body"]), family)
        chat = family.to_request(model.model_id, native)
    return JSONResponse({"inputTokens": await service.count_tokens(tenant, chat)})


# --- shared ----------------------------------------------------------------------------------------


def _stream_failure(operation: str):
    def frame(exc: GatewayError) -> bytes:
        return eventstream.encode_stream_failure(exc, SERVICE, operation)

    return frame


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# Served as plain Starlette routes too (see model_layer.app._add_plain_routes).
PLAIN_ROUTES = (converse, converse_stream, invoke_model, invoke_model_with_response_stream, count_tokens)
