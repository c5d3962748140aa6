"""A SageMaker real-time endpoint running the layer-1 container (or any OpenAI-body container).

The container contract (``infrastructure/runtime/invocations.py``): ``POST /invocations`` with an
OpenAI chat body (``messages``, ``stream``, ``response_format``…), ``{"input": [...]}`` for
embeddings, ``{"count_tokens": [...]}`` for token counts. Streaming uses
``InvokeEndpointWithResponseStream``: ``PayloadPart`` bytes carrying JSON lines or SSE ``data:``
lines (split anywhere), folded by the shared :class:`StreamTranslator`.

Tool use: by default the same grammar-constrained JSON as the local provider (llama.cpp, TGI and
vLLM containers all enforce ``response_format`` JSON schemas); ``native_tools = true`` sends
OpenAI ``tools`` instead, for containers whose models call tools themselves.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field

from infrastructure.runtime.bridge import iterate_in_thread, run_in_thread
from model_layer.config import ModelConfig, ProviderConfigBase
from model_layer.errors import ModelStreamErrorException
from model_layer.providers.aws import aws_error, make_client
from model_layer.providers.base import ProviderPlugin
from model_layer.providers.common import elapsed_ms, log_upstream, model_info
from model_layer.providers.local import build_chat_body
from model_layer.providers.openai_format import (
    StreamTranslator,
    caching_prefix,
    inference_params,
    json_schema_format,
    openai_tools,
    to_openai_messages,
    usage_from_openai,
)
from model_layer.types import ChatRequest, EmbeddingResult, MessageStart, Metadata, ModelInfo, StreamEvent

# Body fields only the in-process llama.cpp engine takes; other containers may refuse them.
_LLAMA_CPP_ONLY = frozenset({"cache_prompt", "timings_per_token"})


class SageMakerProviderConfig(ProviderConfigBase):
    """A SageMaker real-time endpoint speaking the layer-1 container contract (OpenAI chat body)."""

    type: Literal["sagemaker"]
    region: str | None = None
    endpoint_url: str | None = None  # e.g. the local container's SageMaker-runtime routes
    inference_component: str | None = None
    # False: tool calls by grammar-constrained JSON (response_format), as for the local model;
    # True: OpenAI `tools`, for containers whose model calls tools natively.
    native_tools: bool = False
    timeout_s: float = Field(120.0, gt=0)


def json_lines(parts: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """JSON objects from byte parts holding JSON lines or SSE ``data:`` lines, split anywhere."""
    buffer = b""
    for part in parts:
        buffer += part
        *lines, buffer = buffer.split(b"\n")
        yield from _parse_lines(lines)
    yield from _parse_lines([buffer])


def _parse_lines(lines: list[bytes]) -> Iterator[dict[str, Any]]:
    for raw in lines:
        line = raw.strip()
        if line.startswith(b"data:"):
            line = line[5:].strip()
        if not line or line == b"[DONE]" or line.startswith((b"event:", b":")):
            continue
        payload = json.loads(line)
        if isinstance(payload, dict) and "error" in payload:
            error = payload["error"]
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            log_upstream("the endpoint's model failed mid-stream", message)
            raise ModelStreamErrorException("The endpoint's model failed mid-stream.")
        yield payload


class SageMakerProvider:
    name: ClassVar[str] = "sagemaker"
    supports_tools: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = True

    def __init__(
        self, config: SageMakerProviderConfig, models: list[ModelConfig] | None = None, *, client=None
    ):
        self.config = config
        self._models = models or []
        self.client = client or make_client(
            "sagemaker-runtime",
            region=config.region,
            endpoint_url=config.endpoint_url,
            timeout_s=config.timeout_s,
        )

    def models(self) -> list[ModelInfo]:
        return [model_info(m, "Amazon SageMaker") for m in self._models]

    def _target(self, endpoint: str) -> dict[str, Any]:
        target = {"EndpointName": endpoint, "ContentType": "application/json"}
        if self.config.inference_component:
            target["InferenceComponentName"] = self.config.inference_component
        return target

    def chat_body(self, request: ChatRequest) -> tuple[dict[str, Any], Any]:
        """The container's chat body and, for grammar tool calls, the output parser."""
        if not self.config.native_tools:
            chat = build_chat_body(request)
            body = {k: v for k, v in chat.body.items() if k not in _LLAMA_CPP_ONLY}
            if request.stop_sequences:  # the local engine matches them itself; a container does
                body["stop"] = list(request.stop_sequences)
            return {**body, "stream": True}, chat.parser
        body = {
            "messages": to_openai_messages(request),
            **inference_params(request),
            **openai_tools(request.tools, request.tool_choice),
            "stream": True,
        }
        if request.json_schema is not None:
            body["response_format"] = json_schema_format(request.json_schema)
        return body, None

    def _stream(self, endpoint: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        response = self.client.invoke_endpoint_with_response_stream(
            **self._target(endpoint), Body=json.dumps(body), Accept="application/jsonlines"
        )
        stream = response["Body"]
        try:
            yield from json_lines(event["PayloadPart"]["Bytes"] for event in stream if "PayloadPart" in event)
        finally:
            stream.close()

    async def converse_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        started = time.monotonic()
        body, parser = self.chat_body(request)
        translator = StreamTranslator()  # the container matches stop sequences (see chat_body)
        what = f"SageMaker endpoint {request.model_id}"
        first = True
        try:
            async for chunk in iterate_in_thread(lambda: self._stream(request.model_id, body)):
                if first:
                    yield MessageStart()
                    first = False
                events = translator.feed(chunk)
                if parser is not None:
                    text = "".join(e.text or "" for e in events if getattr(e, "text", None))
                    events = parser.feed(text)
                for event in events:
                    yield event
        except Exception as exc:
            raise aws_error(exc, what, request.request_id) from None
        if first:
            yield MessageStart()
        closing = translator.finish() if parser is None else parser.finish(translator.finish_reason)
        for event in closing:
            yield event
        usage = usage_from_openai(translator.usage, caching_prefix(request))
        yield Metadata(usage=usage, latency_ms=elapsed_ms(started))

    async def _invoke(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            response = self.client.invoke_endpoint(
                **self._target(endpoint), Body=json.dumps(body), Accept="application/json"
            )
            return json.loads(response["Body"].read())

        try:
            return await run_in_thread(call)
        except Exception as exc:
            raise aws_error(exc, f"SageMaker endpoint {endpoint}") from None

    async def embed(self, model_id: str, texts: list[str]) -> EmbeddingResult:
        payload = await self._invoke(model_id, {"input": texts})
        rows = sorted(payload["data"], key=lambda row: row.get("index", 0))
        tokens = int((payload.get("usage") or {}).get("prompt_tokens") or 0)
        return EmbeddingResult([row["embedding"] for row in rows], tokens)

    async def count_tokens(self, request: ChatRequest) -> int:
        body, _ = self.chat_body(request)
        payload = await self._invoke(request.model_id, {"count_tokens": body["messages"]})
        return int(payload["input_tokens"])

    async def aclose(self) -> None:
        self.client.close()


PLUGIN = ProviderPlugin(
    type="sagemaker",
    display_name="Amazon SageMaker",
    config=SageMakerProviderConfig,
    factory=SageMakerProvider,
)
