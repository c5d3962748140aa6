"""The SageMaker inference-container contract as an ASGI app (FastAPI).

- ``GET /ping``: 200 once a model is loaded (SageMaker's health check), 503 otherwise;
- ``POST /invocations``: the request kinds of :mod:`infrastructure.runtime.invocations`. It streams
  when the body says ``"stream": true`` (the TGI / LMI convention SageMaker passes through) or the
  ``Accept`` (SageMaker: ``X-Amzn-SageMaker-Accept``) asks for ``text/event-stream`` or
  ``application/jsonlines``; streams are JSON lines by default, SSE when asked;
- ``POST /endpoints/{name}/invocations`` and ``.../invocations-response-stream``: the same handler
  behind SageMaker *runtime*'s own wire format (what ``boto3.client("sagemaker-runtime")`` sends),
  so unmodified SageMaker clients can target a local container with ``endpoint_url``;
- ``GET /metrics``: llama.cpp's Prometheus metrics when the local engine serves.

A bad request is a 4xx JSON error, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from infrastructure.runtime import eventstream
from infrastructure.runtime.bridge import iterate_in_thread, run_in_thread
from infrastructure.runtime.embeddings import EmbeddingEngine
from infrastructure.runtime.engine import ChatBackend
from infrastructure.runtime.errors import InvalidRequestError
from infrastructure.runtime.invocations import (
    CountTokensInvocation,
    EmbedInvocation,
    GenerateInvocation,
    chat_request,
    completion_request,
    embeddings_response,
    parse_invocation,
    tgi_response,
    tgi_stream_event,
)

STREAM_TYPES = ("text/event-stream", "application/jsonlines", "application/x-ndjson", "application/jsonl")


def error_body(message: str, status: int) -> dict:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "code": status}}


class Invoker:
    """Runs one invocation against the engines; shared by the container and runtime routes."""

    def __init__(self, chat: ChatBackend | None, embedder: EmbeddingEngine | None) -> None:
        self.chat = chat
        self.embedder = embedder

    async def respond(self, body: Any, *, stream: bool | None) -> tuple[str, Any]:
        """Return ("json", payload) or ("stream", async iterator of JSON-able events).

        A stream's first event is awaited here, so a request the model rejects still gets a 4xx
        status instead of a 200 followed by an in-band error.
        """
        kind, invocation = parse_invocation(body)
        wants_stream = stream if stream is not None else bool(getattr(invocation, "stream", False))
        if kind == "embed":
            return "json", await self._embed(invocation)  # type: ignore[arg-type]
        chat = self._require_chat()
        if kind == "count_tokens":
            return "json", await self._count(chat, invocation)  # type: ignore[arg-type]
        if kind == "chat":
            request = chat_request(invocation)  # type: ignore[arg-type]
            if wants_stream:
                return "stream", await _primed(chat.astream_chat(request))
            return "json", await chat.achat(request)
        gen: GenerateInvocation = invocation  # type: ignore[assignment]
        request = completion_request(gen)
        if wants_stream:
            return "stream", await _primed(
                _tgi_events(iterate_in_thread(lambda: chat.stream_complete(request)))
            )
        return "json", tgi_response(gen, await run_in_thread(chat.complete, request))

    def _require_chat(self) -> ChatBackend:
        if self.chat is None:
            raise InvalidRequestError("this container serves embeddings only", status_code=400)
        return self.chat

    async def _embed(self, invocation: EmbedInvocation) -> dict:
        if self.embedder is None:
            raise InvalidRequestError("this container has no embedding model loaded", status_code=400)
        texts = [invocation.input] if isinstance(invocation.input, str) else invocation.input
        result = await run_in_thread(self.embedder.embed_with_usage, texts)
        return embeddings_response(result.vectors, result.token_counts, self.embedder.model_id)

    async def _count(self, chat: ChatBackend, invocation: CountTokensInvocation) -> dict:
        value = invocation.count_tokens
        target = value if isinstance(value, str) else [m.model_dump(exclude_none=True) for m in value]
        return {"input_tokens": await run_in_thread(chat.count_tokens, target)}


async def _primed(events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Await the first event now (raising its error), then replay it ahead of the rest."""
    try:
        first = await anext(events)
    except StopAsyncIteration:
        return _single_none()

    async def replay() -> AsyncIterator[Any]:
        yield first
        async for event in events:
            yield event

    return replay()


async def _single_none() -> AsyncIterator[Any]:
    return
    yield


async def _tgi_events(chunks: AsyncIterator[dict]) -> AsyncIterator[dict]:
    """Completion chunks → TGI events. llama.cpp ends with an empty chunk carrying only the
    finish reason; TGI puts that on the last token's event, so events are held back by one."""
    text, index, pending = "", 0, None
    async for chunk in chunks:
        choices = chunk.get("choices") or []
        piece = (choices[0].get("text") or "") if choices else ""
        text += piece
        event = tgi_stream_event(chunk, index, text)
        if event is None:
            continue
        if pending is not None and not piece and event["details"] is not None:
            pending.update(generated_text=event["generated_text"], details=event["details"])
            continue
        if pending is not None:
            yield pending
        pending, index = event, index + 1
    if pending is not None:
        yield pending


async def _encode(
    events: AsyncIterator[Any], frame: Callable[[bytes], bytes], sse: bool
) -> AsyncIterator[bytes]:
    """Serialise events (JSON lines or SSE); an error mid-stream becomes a final error event."""
    try:
        async for event in events:
            line = json.dumps(event, separators=(",", ":"))
            yield frame((f"data: {line}\n\n" if sse else line + "\n").encode())
        if sse:
            yield frame(b"data: [DONE]\n\n")
    except InvalidRequestError as exc:
        error = json.dumps(error_body(exc.message, exc.status_code))
        yield frame((f"data: {error}\n\n" if sse else error + "\n").encode())


def _wants(headers: Any, *names: str) -> str:
    return ",".join(headers.get(name, "") for name in names).lower()


def create_app(chat: ChatBackend | None = None, embedder: EmbeddingEngine | None = None) -> FastAPI:
    """The container app over already-loaded engines (load errors surface before serving)."""
    app = FastAPI(title="strata runtime", docs_url=None, redoc_url=None)
    invoker = Invoker(chat, embedder)
    app.state.invoker = invoker

    @app.exception_handler(InvalidRequestError)
    async def _invalid(_: Request, exc: InvalidRequestError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.status_code), status_code=exc.status_code)

    @app.get("/ping")
    async def ping() -> JSONResponse:
        loaded = [e.model_id for e in (chat, embedder) if e is not None]
        status = 200 if loaded else 503
        return JSONResponse(
            {"status": "healthy" if loaded else "no model", "models": loaded}, status_code=status
        )

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        accept = _wants(request.headers, "accept", "x-amzn-sagemaker-accept")
        stream = True if any(t in accept for t in STREAM_TYPES) else None
        sse = "text/event-stream" in accept
        mode, payload = await invoker.respond(await _json(request), stream=stream)
        if mode == "json":
            return JSONResponse(payload)
        media = "text/event-stream" if sse else "application/jsonlines"
        return StreamingResponse(_encode(payload, lambda b: b, sse), media_type=media)

    @app.get("/metrics")
    async def metrics() -> Response:
        reader = getattr(chat, "metrics", None)
        if reader is None:
            return PlainTextResponse("# no local engine metrics\n")
        return PlainTextResponse(await run_in_thread(reader))

    _add_sagemaker_runtime_routes(app, invoker)
    return app


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise InvalidRequestError("empty request body: send a JSON object")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc}") from None


def _model_error(exc: InvalidRequestError) -> JSONResponse:
    # What SageMaker answers when the container returns an error: 424 ModelError.
    original = json.dumps(error_body(exc.message, exc.status_code))
    body = {"message": exc.message, "OriginalStatusCode": exc.status_code, "OriginalMessage": original}
    return JSONResponse(body, status_code=424, headers={"x-amzn-ErrorType": "ModelError"})


def _add_sagemaker_runtime_routes(app: FastAPI, invoker: Invoker) -> None:
    """``sagemaker-runtime``'s REST paths, answering as SageMaker does on behalf of a container."""

    @app.post("/endpoints/{endpoint_name}/invocations")
    async def invoke_endpoint(endpoint_name: str, request: Request) -> Response:
        try:
            accept = _wants(request.headers, "accept")
            _, payload = await invoker.respond(await _json(request), stream=False)
        except InvalidRequestError as exc:
            return _model_error(exc)
        content_type = "application/json" if "json" in accept or not accept or "*" in accept else accept
        return Response(json.dumps(payload), media_type=content_type)

    @app.post("/endpoints/{endpoint_name}/invocations-response-stream")
    async def invoke_endpoint_with_response_stream(endpoint_name: str, request: Request) -> Response:
        sse = "text/event-stream" in _wants(request.headers, "x-amzn-sagemaker-accept")
        try:
            _, events = await invoker.respond(await _json(request), stream=True)
        except InvalidRequestError as exc:
            return _model_error(exc)
        if not hasattr(events, "__aiter__"):  # embeddings / token counts have no streaming form
            events = _single(events)
        return StreamingResponse(
            _framed(events, sse),
            media_type="application/vnd.amazon.eventstream",
            headers={
                "X-Amzn-SageMaker-Content-Type": "text/event-stream" if sse else "application/jsonlines"
            },
        )


async def _single(payload: Any) -> AsyncIterator[Any]:
    yield payload


async def _framed(events: AsyncIterator[Any], sse: bool) -> AsyncIterator[bytes]:
    try:
        async for part in _encode(events, eventstream.payload_part, sse):
            yield part
    except Exception as exc:  # the stream has started: report in-band, as SageMaker does
        yield eventstream.model_stream_error(f"{type(exc).__name__}: {exc}")
