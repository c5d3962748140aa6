"""The local provider: layer 1's in-process llama.cpp engine (chat) and MiniLM engine (embeddings).

One engine per provider, created on first use and shared by all its model ids; its ``n_parallel``
slots decode concurrent requests together. Closing a stream early (client disconnect, timeout)
closes the engine's stream, which frees the slot.

- Prompt caching: llama.cpp reuses the longest matching prompt prefix per slot
  (``cached_tokens``). A ``cachePoint`` marks a prefix the client wants cached: then the reuse is
  reported as ``cacheReadInputTokens`` and the part of the prefix computed this time as
  ``cacheWriteInputTokens``; without one, usage is the whole prompt (as Bedrock reports it) and
  the reuse shows only in the metrics.
- Stop sequences are matched by the gateway (``StreamTranslator``), not llama.cpp, whose chunks
  cannot tell a stop word from end-of-sequence; a match closes the engine's stream.
- Tools: SmolLM2 has no native tool calling, so tool use is grammar-constrained JSON
  (``tool_calling``); ``json_schema`` requests are constrained the same way.
- Context window: llama.cpp splits ``n_ctx`` over its slots, and an answer that reaches the end
  of its slot stops there. A request that asks for ``maxTokens`` the slot cannot hold after the
  prompt is refused before the engine runs (``ContextWindowExceeded``, a 400), as is a prompt
  longer than the slot. Without ``maxTokens`` the answer gets what the slot has left (at most
  ``DEFAULT_MAX_TOKENS``); one cut at the slot's end stops with ``model_context_window_exceeded``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from infrastructure.runtime.bridge import run_in_thread
from infrastructure.runtime.errors import EngineClosedError, InvalidRequestError
from infrastructure.runtime.weights import ModelFileError, check_gguf
from model_layer.config import ModelConfig, ProviderConfigBase
from model_layer.errors import (
    ContextWindowExceeded,
    GatewayError,
    ModelErrorException,
    ModelNotReadyException,
    ValidationException,
)
from model_layer.providers.base import ProviderPlugin
from model_layer.providers.common import elapsed_ms, model_info
from model_layer.providers.openai_format import (
    Capabilities,
    StreamTranslator,
    cache_prefix,
    inference_params,
    json_schema_format,
    to_openai_messages,
    usage_from_openai,
)
from model_layer.providers.tool_calling import (
    ConstrainedOutput,
    allowed_tools,
    call_schema,
    tool_prompt,
)
from model_layer.types import (
    ChatRequest,
    EmbeddingResult,
    MessageStart,
    MessageStop,
    Metadata,
    ModelInfo,
    StreamEvent,
)


class LocalProviderConfig(ProviderConfigBase):
    """The in-process llama.cpp engine (layer 1) and the local embeddings engine."""

    type: Literal["local"]
    model_path: str | None = None  # a GGUF file; None = the packaged SmolLM2-135M
    n_ctx: int = Field(8192, ge=256)
    n_parallel: int = Field(4, ge=1, le=64)
    threads: int | None = Field(None, ge=1)  # None: engine.default_threads() (1 on a 2-core host)
    embedding_threads: int | None = Field(None, ge=1)  # onnxruntime; None: default_threads() too


log = logging.getLogger("strata.gateway.providers")
LOCAL_CAPS = Capabilities(native_tools=False, images=False)
DEFAULT_MAX_TOKENS = 1024  # SmolLM2 usually stops on its own; this bounds the rare run-on answer
# Chat-template tokens a message may add beyond its JSON text (role headers, separators).
TEMPLATE_TOKENS_PER_MESSAGE = 8


def engine_error(exc: Exception) -> GatewayError:
    """Layer-1 engine errors → gateway errors."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, EngineClosedError):
        return ModelNotReadyException("the local model is shutting down; retry")
    if isinstance(exc, ModelFileError):
        log.error("the local model could not be loaded: %s", exc.message)  # the path: log only
        return ModelNotReadyException("the local model could not be loaded; see the gateway's log")
    if isinstance(exc, InvalidRequestError):
        details = exc.details
        if details.get("type") == "exceed_context_size_error" and "n_prompt_tokens" in details:
            return ContextWindowExceeded(int(details["n_prompt_tokens"]), None, int(details["n_ctx"]))
        if exc.status_code < 500:
            return ValidationException(exc.message)
        return ModelErrorException(exc.message, extra={"originalStatusCode": exc.status_code})
    log.error("local model failed", exc_info=exc)  # exception text stays out of the client's message
    return ModelErrorException("local model failed; see the gateway's log")


@dataclass
class LocalChat:
    """A ChatRequest translated for llama.cpp."""

    body: dict[str, Any]
    parser: ConstrainedOutput | None  # re-parses constrained tool-call output; None for plain text
    system_prefix: str  # tool instructions put before the caller's system text


def build_chat_body(request: ChatRequest) -> LocalChat:
    """ChatRequest → llama.cpp chat body (+ the tool-output parser and the tool prompt)."""
    prefix, parser, fmt = "", None, None
    if request.tools and (request.tool_choice is None or "none" not in request.tool_choice):
        tools, may_answer = allowed_tools(request)
        prefix = tool_prompt(tools, may_answer)
        fmt = json_schema_format(call_schema(tools, may_answer, request.json_schema), "tool_call")
        parser = ConstrainedOutput(stream_answer=request.json_schema is None)
    elif request.json_schema is not None:
        fmt = json_schema_format(request.json_schema)
    body: dict[str, Any] = {
        "messages": to_openai_messages(request, LOCAL_CAPS, system_prefix=prefix),
        # Stop sequences are matched by the StreamTranslator, not llama.cpp: its chunks cannot tell
        # a matched stop word from end-of-sequence, and Bedrock reports them differently.
        **inference_params(request, DEFAULT_MAX_TOKENS, stop=False),
        "stream_options": {"include_usage": True},
        "cache_prompt": True,
        "timings_per_token": True,  # usage of a stream ended at a stop sequence (no usage chunk)
    }
    if fmt is not None:
        body["response_format"] = fmt
    return LocalChat(body, parser, prefix)


class LocalProvider:
    name: ClassVar[str] = "local"
    supports_tools: ClassVar[bool] = True  # via grammar-constrained JSON
    supports_embeddings: ClassVar[bool] = True

    def __init__(self, config: LocalProviderConfig, models: list[ModelConfig] | None = None):
        self.config = config
        self._models = models or []
        if config.model_path:  # fail at start-up, not at the first request
            try:
                check_gguf(config.model_path)
            except ModelFileError as exc:
                exc.message = f"providers.{config.name}.model_path: {exc.message}"
                raise
        self._engine: Any = None
        self._embedder: Any = None
        self._lock = threading.Lock()
        # (the slot's context window, the tokens of a one-message conversation), once asked
        self._window: tuple[int, int] | None = None
        self.last_timings: dict[str, Any] | None = None  # llama.cpp timings of the last answer

    def models(self) -> list[ModelInfo]:
        return [model_info(m, "Strata (local)") for m in self._models]

    # -- engines, created once on first use ---------------------------------------------------

    def _chat_engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                from infrastructure.runtime.engine import ChatEngine, EngineConfig

                cfg = self.config
                self._engine = ChatEngine(
                    EngineConfig(cfg.model_path, cfg.n_ctx, cfg.n_parallel, cfg.threads)
                )
            return self._engine

    def _embedding_engine(self) -> Any:
        with self._lock:
            if self._embedder is None:
                from infrastructure.runtime.embeddings import EmbeddingEngine

                self._embedder = EmbeddingEngine(n_threads=self.config.embedding_threads)
            return self._embedder

    async def engine(self) -> Any:
        """The chat engine, loading it (off the event loop) if needed."""
        try:
            return await run_in_thread(self._chat_engine)
        except Exception as exc:
            raise engine_error(exc) from None

    # -- chat ---------------------------------------------------------------------------------

    async def converse_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        started = time.monotonic()
        chat = build_chat_body(request)
        parser = chat.parser
        engine = await self.engine()
        if request.max_tokens is not None:
            await self._check_window(engine, chat.body["messages"], request.max_tokens)
        prefix_tokens = await self._prefix_tokens(engine, request, chat.system_prefix)
        translator = StreamTranslator(request.stop_sequences)
        chunks = engine.astream_chat(chat.body)
        sent_start = False
        try:
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    if not sent_start:
                        # After the first chunk: a request llama.cpp rejects (context too long)
                        # fails before anything is streamed, as a plain 400.
                        sent_start = True
                        yield MessageStart()
                    for event in _translate(translator, parser, chunk):
                        yield event
                    if translator.stopped:
                        break  # closing the engine's stream frees the slot
        except Exception as exc:
            raise engine_error(exc) from None
        if not sent_start:
            yield MessageStart()
        closing = translator.finish() if parser is None else parser.finish(translator.finish_reason)
        cut_by_window = request.max_tokens is None and _completion_tokens(translator) < DEFAULT_MAX_TOKENS
        for event in closing:
            if cut_by_window and isinstance(event, MessageStop) and event.stop_reason == "max_tokens":
                # "length" before the default: llama.cpp reached the end of the slot's context.
                event = dataclasses.replace(event, stop_reason="model_context_window_exceeded")
            yield event
        self.last_timings = translator.timings
        usage = usage_from_openai(translator.usage, prefix_tokens)
        yield Metadata(usage=usage, latency_ms=elapsed_ms(started))

    async def _check_window(self, engine: Any, messages: list[dict[str, Any]], max_tokens: int) -> None:
        """Refuse (``ContextWindowExceeded``) a prompt + ``max_tokens`` the slot cannot hold.

        Counting costs a chat-template render and a tokenization (~3 ms), so it is skipped when a
        bound already fits: no token is shorter than a byte of the text it stands for.
        """
        try:
            if self._window is None:
                self._window = await run_in_thread(_window_of, engine)
            window, base = self._window
            text_bytes = len(json.dumps(messages, ensure_ascii=False).encode())
            if base + text_bytes + TEMPLATE_TOKENS_PER_MESSAGE * len(messages) + max_tokens <= window:
                return
            prompt = await run_in_thread(engine.count_tokens, messages)
        except Exception as exc:
            raise engine_error(exc) from None
        if prompt + max_tokens > window:
            raise ContextWindowExceeded(prompt, max_tokens, window)

    async def _prefix_tokens(self, engine: Any, request: ChatRequest, system_prefix: str) -> int | None:
        """Tokens of the prompt up to the last cachePoint (as the model's template renders them)."""
        prefix = cache_prefix(request)
        if prefix is None:
            return None
        messages = to_openai_messages(prefix, LOCAL_CAPS, system_prefix=system_prefix)
        if not messages:
            return None
        try:
            return await run_in_thread(_template_tokens, engine, messages)
        except Exception as exc:
            raise engine_error(exc) from None

    async def count_tokens(self, request: ChatRequest) -> int:
        messages = build_chat_body(request).body["messages"]
        engine = await self.engine()
        try:
            return await run_in_thread(engine.count_tokens, messages)
        except Exception as exc:
            raise engine_error(exc) from None

    # -- embeddings ---------------------------------------------------------------------------

    async def embed(self, model_id: str, texts: list[str]) -> EmbeddingResult:
        try:
            embedder = await run_in_thread(self._embedding_engine)
            result = await run_in_thread(embedder.embed_with_usage, texts)
        except Exception as exc:
            raise engine_error(exc) from None
        return EmbeddingResult(result.vectors, result.total_tokens)

    async def aclose(self) -> None:
        with self._lock:
            engine, self._engine, self._window = self._engine, None, None
            embedder, self._embedder = self._embedder, None
        for closable in (engine, embedder):
            if closable is not None:
                closable.close()


def _translate(translator: StreamTranslator, parser: ConstrainedOutput | None, chunk: dict) -> list:
    """One engine chunk → events; constrained tool output is re-parsed from the generated text."""
    events = translator.feed(chunk)
    if parser is None:
        return events
    return parser.feed("".join(e.text for e in events if getattr(e, "text", None)))


def _window_of(engine: Any) -> tuple[int, int]:
    """The slot's context window, and the prompt tokens of a one-message conversation (the chat
    template's fixed part: a default system prompt, the assistant header)."""
    return int(engine.slot_context()), int(engine.count_tokens([{"role": "user", "content": "x"}]))


def _completion_tokens(translator: StreamTranslator) -> int:
    return int((translator.usage or {}).get("completion_tokens") or 0)


def _template_tokens(engine: Any, messages: list[dict[str, Any]]) -> int:
    """Prompt tokens of ``messages`` without the assistant generation prompt.

    Uses llama.cpp's own chat-template token count (``add_generation_prompt: false``) so the
    number lines up with ``cached_tokens``; falls back to the public count (a few tokens more).
    """
    from infrastructure.runtime.engine import ChatEngine  # loaded already: the engine exists

    if isinstance(engine, ChatEngine):
        return int(engine.count_tokens(messages, add_generation_prompt=False))
    return int(engine.count_tokens(messages))


PLUGIN = ProviderPlugin(
    type="local", display_name="Strata (local)", config=LocalProviderConfig, factory=LocalProvider
)
