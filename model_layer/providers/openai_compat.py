"""Any OpenAI-compatible server (Ollama, vLLM, llama-server, TGI, OpenAI) over HTTP (aiohttp).

Chat streams ``POST {base_url}/chat/completions`` (SSE, ``stream_options.include_usage``) through
the shared :class:`StreamTranslator`; embeddings use ``POST {base_url}/embeddings``. Upstream
errors map to gateway errors: 429 → Throttling (with Retry-After), 503 → ServiceUnavailable,
other 5xx → ModelError (with ``originalStatusCode``), 408/timeouts → ModelTimeout, 400/413/422 →
Validation, 404 → ResourceNotFound, unreachable → ServiceUnavailable (retryable). Only a
validation error carries the upstream's words; the base URL and other details go to the log.
The HTTP client (aiohttp, no cookies, one pool per loop) is :mod:`.upstream_http`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from model_layer.config import ModelConfig, ProviderConfigBase
from model_layer.errors import (
    GatewayError,
    ModelErrorException,
    ModelTimeoutException,
    ResourceNotFoundException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)
from model_layer.providers.base import ProviderPlugin
from model_layer.providers.common import block_text, elapsed_ms, log_upstream, model_info, refusal_text
from model_layer.providers.openai_format import (
    Capabilities,
    StreamTranslator,
    caching_prefix,
    inference_params,
    json_schema_format,
    openai_tools,
    to_openai_messages,
    usage_from_openai,
)
from model_layer.providers.upstream_http import TRANSPORT_ERRORS, UpstreamHTTP, is_timeout, lines
from model_layer.types import ChatRequest, EmbeddingResult, MessageStart, Metadata, ModelInfo, StreamEvent


class OpenAIProviderConfig(ProviderConfigBase):
    """Any OpenAI-compatible server: Ollama, vLLM, llama-server, TGI, OpenAI itself."""

    type: Literal["openai"]
    base_url: str  # including /v1, e.g. http://localhost:11434/v1
    api_key_env: str | None = None  # name of the env var holding the bearer key (never the key)
    native_tools: bool = True  # send OpenAI `tools`; False: the server ignores them
    timeout_s: float = Field(120.0, gt=0)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after-ms") or headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds / 1000 if "retry-after-ms" in headers else seconds


def upstream_error(
    status: int, body: str, headers: Mapping[str, str] | None = None, request_id: str | None = None
) -> GatewayError:
    """An upstream HTTP error → the gateway error a Bedrock client expects (see ``common``)."""
    try:
        detail = json.loads(body).get("error", body)
        message = detail.get("message", str(detail)) if isinstance(detail, dict) else str(detail)
    except (ValueError, AttributeError):
        message = body[:500]
    log_upstream(f"upstream model answered HTTP {status}", message, request_id)
    if status in (400, 413, 422):
        return ValidationException(f"The model rejected the request: {refusal_text(message)}")
    if status == 429:
        retry_after = _retry_after(headers or {})
        return ThrottlingException("The upstream model is busy; retry later.", retry_after_s=retry_after)
    if status == 503:
        return ServiceUnavailableException("The upstream model is unavailable; retry later.")
    if status in (408, 504):
        return ModelTimeoutException("The upstream model timed out.")
    if status == 404:
        return ResourceNotFoundException("The upstream model was not found (the gateway's log has details).")
    return ModelErrorException(
        f"The upstream model failed (HTTP {status}).", extra={"originalStatusCode": status}
    )


def transport_error(exc: BaseException, base_url: str, request_id: str | None = None) -> GatewayError:
    log_upstream(f"upstream model at {base_url} could not be reached", type(exc).__name__, request_id, exc)
    if is_timeout(exc):
        return ModelTimeoutException("The upstream model timed out.")
    return ServiceUnavailableException("The upstream model is unreachable; retry later.")


def _error_status(error: Any) -> int:
    """The HTTP status an in-stream ``{"error": …}`` carries (500 when it names none)."""
    code = error.get("code") if isinstance(error, dict) else None
    try:
        status = int(code)
    except (TypeError, ValueError):
        return 500
    return status if 400 <= status < 600 else 500


async def sse_events(response: Any) -> AsyncIterator[dict[str, Any]]:
    """``data: {...}`` lines of a server-sent-event stream (an aiohttp response), until ``data: [DONE]``."""
    body = lines(response)
    async for line in body:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            # Read to the end of the body so the connection goes back to the pool for reuse.
            async for _ in body:
                pass
            return
        if data:
            try:
                payload = json.loads(data)
            except ValueError:
                log_upstream("upstream model sent a chunk that is not JSON", data[:200])
                raise ModelErrorException("The upstream model sent a malformed stream.") from None
            if isinstance(payload, dict) and "error" in payload:
                raise upstream_error(_error_status(payload["error"]), data)
            yield payload


class OpenAICompatProvider:
    name: ClassVar[str] = "openai"
    supports_tools: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = True

    def __init__(
        self,
        config: OpenAIProviderConfig,
        models: list[ModelConfig] | None = None,
    ):
        self.config = config
        self._models = models or []
        self._images = {m.upstream or m.id for m in self._models if "IMAGE" in m.input_modalities}
        headers = {}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if key:
                headers["Authorization"] = f"Bearer {key}"
        base = config.base_url.rstrip("/") + "/"
        self._client = UpstreamHTTP(base, headers, config.timeout_s)
        self._chat_url = base + "chat/completions"
        self._embeddings_url = base + "embeddings"

    def models(self) -> list[ModelInfo]:
        return [model_info(m, "OpenAI-compatible") for m in self._models]

    def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        caps = Capabilities(native_tools=self.config.native_tools, images=request.model_id in self._images)
        body: dict[str, Any] = {
            "model": request.model_id,
            "messages": to_openai_messages(request, caps),
            **inference_params(request),
            "stream": request.stream,
        }
        if request.stream:
            body["stream_options"] = {"include_usage": True}
        if self.config.native_tools:
            body.update(openai_tools(request.tools, request.tool_choice))
        if request.json_schema is not None:
            body["response_format"] = json_schema_format(request.json_schema)
        return body

    async def converse_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        started = time.monotonic()
        # The upstream gets the stop sequences (it stops, and counts, best); it reports a match
        # as "stop" like end-of-sequence unless it names the sequence (vLLM's stop_reason).
        translator = StreamTranslator()
        try:
            if request.stream:
                async for event in self._streamed(request, translator):
                    yield event
            else:
                # The client waits for the whole answer anyway: one plain call, parsed once, is
                # cheaper for both sides than a stream collected here.
                completion = await self._completion(request)
                yield MessageStart()
                for event in translator.feed(completion):
                    yield event
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, self.config.base_url, request.request_id) from None
        for event in translator.finish():
            yield event
        usage = usage_from_openai(translator.usage, caching_prefix(request))
        yield Metadata(usage=usage, latency_ms=elapsed_ms(started))

    async def _streamed(
        self, request: ChatRequest, translator: StreamTranslator
    ) -> AsyncIterator[StreamEvent]:
        async with self._client.stream(self._chat_url, self.chat_body(request)) as response:
            if response.status >= 400:
                body = (await response.read()).decode("utf-8", "replace")
                raise upstream_error(response.status, body, response.headers, request.request_id)
            yield MessageStart()
            async for chunk in sse_events(response):
                for event in translator.feed(chunk):
                    yield event

    async def _completion(self, request: ChatRequest) -> dict[str, Any]:
        status, content, headers = await self._client.post(self._chat_url, self.chat_body(request))
        if status >= 400:
            raise upstream_error(status, _text(content), headers, request.request_id)
        try:
            payload = json.loads(content)
        except ValueError:
            log_upstream("upstream model sent a body that is not JSON", _text(content[:200]))
            raise ModelErrorException("The upstream model sent a malformed response.") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            log_upstream("upstream model sent an unexpected body", _text(content[:200]))
            raise ModelErrorException("The upstream model sent a malformed response.")
        return payload

    async def embed(self, model_id: str, texts: list[str]) -> EmbeddingResult:
        try:
            status, content, headers = await self._client.post(
                self._embeddings_url, {"model": model_id, "input": texts}
            )
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, self.config.base_url) from None
        if status >= 400:
            raise upstream_error(status, _text(content), headers)
        try:
            payload = json.loads(content)
            rows = sorted(payload["data"], key=lambda row: row.get("index", 0))
            tokens = int((payload.get("usage") or {}).get("prompt_tokens") or 0)
            return EmbeddingResult([row["embedding"] for row in rows], tokens)
        except (ValueError, TypeError, KeyError, AttributeError):
            log_upstream("upstream model sent an unexpected embeddings body", _text(content[:200]))
            raise ModelErrorException("The upstream model sent a malformed response.") from None

    async def count_tokens(self, request: ChatRequest) -> int:
        """OpenAI's API has no token counting: an estimate (~4 characters per token)."""
        chars = sum(len(block_text(b)) for b in request.system)
        for message in request.messages:
            chars += sum(len(block_text(b)) for b in message.get("content", []))
        return max(1, round(chars / 4))

    async def aclose(self) -> None:
        await self._client.aclose()


def _text(content: bytes) -> str:
    return content.decode("utf-8", "replace")


PLUGIN = ProviderPlugin(
    type="openai", display_name="OpenAI-compatible", config=OpenAIProviderConfig, factory=OpenAICompatProvider
)
