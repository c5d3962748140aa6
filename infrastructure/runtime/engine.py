"""The local chat engine: llama.cpp's server loop (via xllamacpp) running a GGUF model in-process.

What llama.cpp gives and this module keeps visible:

- ``n_parallel`` slots decode concurrent requests in one batch (continuous batching); each public
  call blocks in C++ with the GIL released, so callers use threads (the async methods do that);
- a per-slot prefix (prompt) KV cache: ``usage.prompt_tokens_details.cached_tokens`` per request,
  accumulated here in :meth:`ChatEngine.cache_stats`;
- ``response_format: {"type": "json_schema", ...}`` enforced by a grammar.

Requests and responses are OpenAI chat-completion dicts. One code path: :meth:`ChatEngine.chat`
asks llama.cpp for a whole response, :meth:`ChatEngine.stream_chat` yields its chunks; both go
through the same validation and statistics.

What can and cannot be stopped. A stream (:class:`ChunkStream`) is cancelled from any thread and
stops at its next chunk, releasing its slot: llama.cpp takes "stop" only as the answer of the
chunk callback. Nothing inside one step of llama.cpp's loop can be interrupted: rendering the chat
template and tokenising (in the calling thread, before the first chunk), parsing the request's
grammar (in the loop thread every slot shares, when the slot starts) and applying it to each
sampled token (the same thread, every step, for every slot). Their cost grows with the request's
schema and messages, so callers bound those before a request gets here (the gateway:
``model_layer.wire.bounds``; figures in ``bench/engine_isolation_bench.py``).

Token counting uses llama.cpp's own ``/tokenize`` and ``/v1/chat/completions/input_tokens``
routes, served by xllamacpp on a random loopback port that a per-engine random API key guards.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx

from infrastructure.runtime.bridge import iterate_in_thread, run_in_thread
from infrastructure.runtime.errors import EngineClosedError, InvalidRequestError
from infrastructure.runtime.settings import RuntimeSettings
from infrastructure.runtime.weights import ModelFileError, check_gguf, default_chat_model_path

CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass(frozen=True)
class EngineConfig:
    """How to load and size the local engine; ``model_path=None`` means the packaged model."""

    model_path: str | None = None
    n_ctx: int = 8192
    n_parallel: int = 4
    n_threads: int | None = None  # None: default_threads() (leaves cores to the rest of the host)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's cpuset), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_threads(cpus: int | None = None) -> int:
    """llama.cpp's decode and prefill threads when none are configured.

    Every decoding step waits for its slowest thread, so a thread that shares its core with other
    work stalls the whole step. llama.cpp's own default is one thread per physical core, which on a
    small host leaves nothing for the gateway around it (HTTP, tokenizing, embeddings) or for
    anything else there. Measured with SmolLM2-135M, 96 tokens, on a 2-core VM: idle, 1 thread
    decoded 80-94 tok/s and 2 threads 100-126; with one core busy, 1 thread 34-106 tok/s and
    2 threads 2-42 (seconds per answer instead of one). So: up to 4 CPUs, all but one; above,
    half (the physical cores of an SMT host), at least 3.
    """
    cpus = cpus or usable_cpus()
    if cpus <= 4:
        return max(1, cpus - 1)
    return max(3, cpus // 2)


@dataclass
class CacheStats:
    """Prefix-cache totals since the engine started (tokens reused instead of recomputed)."""

    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    last_cached_tokens: int = 0

    @property
    def hit_rate(self) -> float:
        """Share of prompt tokens served from the cache."""
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hit_rate": round(self.hit_rate, 4)}


@runtime_checkable
class ChatBackend(Protocol):
    """What the gateway and the container need from a chat model, local or remote."""

    model_id: str

    def chat(self, request: dict) -> dict: ...
    def stream_chat(self, request: dict) -> Iterator[dict]: ...
    def complete(self, request: dict) -> dict: ...
    def stream_complete(self, request: dict) -> Iterator[dict]: ...
    async def achat(self, request: dict) -> dict: ...
    def astream_chat(self, request: dict) -> AsyncIterator[dict]: ...
    def count_tokens(self, text_or_messages: str | list[dict]) -> int: ...
    def cache_stats(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


class AsyncMethods:
    """``achat`` / ``astream_chat`` for any backend with blocking ``chat`` / ``stream_chat``."""

    async def achat(self, request: dict) -> dict:
        """Like ``chat`` but awaitable; the blocking call runs in its own thread."""
        return await run_in_thread(self.chat, request)  # type: ignore[attr-defined]

    async def astream_chat(self, request: dict) -> AsyncIterator[dict]:
        """Like ``stream_chat``; leaving the loop early (or a disconnect) cancels the generation."""
        async for chunk in iterate_in_thread(lambda: self.stream_chat(request)):  # type: ignore[attr-defined]
            yield chunk


def check_chat_request(request: Any) -> dict:
    """Reject what llama.cpp would silently accept (empty or role-less conversations)."""
    if not isinstance(request, dict):
        raise InvalidRequestError("a chat request must be a JSON object")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("'messages' must be a non-empty list of {role, content} objects")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in CHAT_ROLES:
            raise InvalidRequestError(
                f"messages[{index}] needs a 'role' in {sorted(CHAT_ROLES)}", status_code=400
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise InvalidRequestError(f"messages[{index}].content must be a string or a list of parts")
    return request


def record_usage(stats: CacheStats, usage: dict | None, lock: threading.Lock) -> None:
    """Add one response's usage to the running totals."""
    if not usage:
        return
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    with lock:
        stats.requests += 1
        stats.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        stats.completion_tokens += int(usage.get("completion_tokens") or 0)
        stats.cached_tokens += cached
        stats.last_cached_tokens = cached


def raise_if_error(payload: Any) -> dict:
    """llama.cpp reports request errors as ``{"error": {code, message}}``: make them exceptions."""
    if isinstance(payload, dict) and "error" in payload:
        error = payload["error"]
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        code = error.get("code", 400) if isinstance(error, dict) else 400
        raise InvalidRequestError(
            f"the model rejected the request: {message}",
            status_code=int(code),
            details=error if isinstance(error, dict) else None,
        )
    if not isinstance(payload, dict):
        raise InvalidRequestError(f"unexpected response from llama.cpp: {payload!r}", status_code=500)
    return payload


class ChunkStream(Iterator[dict]):
    """The chunks of one generation; :meth:`cancel` (from any thread) or :meth:`close` stops it.

    llama.cpp can only be told to stop from the chunk callback, so the generation stops at its next
    chunk (one decoding step of the engine): :meth:`cancel` lets a consumer on another thread ask
    for that without waiting until the blocked ``next()`` returns, which would cost one more chunk.
    """

    def __init__(self, chunks: Iterator[dict], cancelled: threading.Event) -> None:
        self._chunks = chunks
        self._cancelled = cancelled

    def __next__(self) -> dict:
        return next(self._chunks)

    def cancel(self) -> None:
        """Stop at the next chunk (thread-safe; the consumer still sees the stream end)."""
        self._cancelled.set()

    def close(self) -> None:
        self._cancelled.set()
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class ChatEngine(AsyncMethods):
    """A GGUF chat model served in-process by llama.cpp's server loop."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        import xllamacpp  # deferred: only the local engine needs the native library

        self.config = config or EngineConfig()
        path = check_gguf(self.config.model_path) if self.config.model_path else default_chat_model_path()
        self.model_path = check_gguf(path)
        self.model_id = Path(self.model_path).stem
        self._api_key = secrets.token_urlsafe(24)
        self._stats = CacheStats()
        self._lock = threading.Lock()
        self._slot_context: int | None = None
        self._server = self._start(xllamacpp, self._api_key)
        self.server_url: str = self._server.listening_address
        self._http = httpx.Client(
            base_url=self.server_url, headers={"Authorization": f"Bearer {self._api_key}"}, timeout=60
        )

    def _start(self, xllamacpp: Any, api_key: str) -> Any:
        cfg = self.config
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.n_ctx = cfg.n_ctx
        params.n_parallel = cfg.n_parallel
        params.use_jinja = True
        # An answer that reaches the end of its slot's context stops there ("length"), rather than
        # dropping the start of the conversation to go on: callers check prompt + max_tokens fit.
        params.ctx_shift = False
        threads = cfg.n_threads or default_threads()
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.warmup = False
        params.verbosity = -1  # llama.cpp logs go to stderr otherwise, one line per request
        params.endpoint_metrics = True
        # The embedded HTTP server (loopback, random port) is only for tokenizing: lock it.
        params.api_keys = [api_key]
        try:
            return xllamacpp.Server(params)
        except (RuntimeError, ValueError) as exc:
            raise ModelFileError(
                f"llama.cpp could not load {self.model_path}: the file is corrupt, truncated or "
                f"of an unsupported architecture ({exc})",
                hint="re-download the GGUF file or choose another with STRATA_MODEL_PATH",
            ) from None

    @property
    def openai_base_url(self) -> str:
        """llama.cpp's own OpenAI-compatible API for this engine (loopback, key-protected)."""
        return f"{self.server_url}/v1"

    @property
    def api_key(self) -> str:
        """The bearer key of :attr:`openai_base_url` (random per engine)."""
        return self._api_key

    # -- chat ---------------------------------------------------------------------------------

    def chat(self, request: dict) -> dict:
        """One OpenAI chat completion (blocks until the whole answer is generated)."""
        body = {**check_chat_request(request), "stream": False}
        response = raise_if_error(self._call("handle_chat_completions", body))
        record_usage(self._stats, response.get("usage"), self._lock)
        return self._named(response)

    def stream_chat(self, request: dict) -> ChunkStream:
        """Yield OpenAI ``chat.completion.chunk`` dicts; ``close()`` or ``cancel()`` frees the slot."""
        return self._stream("handle_chat_completions", check_chat_request(request))

    def complete(self, request: dict) -> dict:
        """A raw-prompt (OpenAI ``/v1/completions``) generation: ``{"prompt": "...", ...}``."""
        body = {**_check_prompt(request), "stream": False}
        response = raise_if_error(self._call("handle_completions", body))
        record_usage(self._stats, response.get("usage"), self._lock)
        return self._named(response)

    def stream_complete(self, request: dict) -> ChunkStream:
        """Stream a raw-prompt generation as ``text_completion`` chunks."""
        return self._stream("handle_completions", _check_prompt(request))

    def _call(self, method: str, body: dict, *callback: Any) -> Any:
        server = self._server
        if server is None:
            raise EngineClosedError("the chat engine is closed")
        try:
            return getattr(server, method)(body, *callback)
        except (ValueError, RuntimeError, TypeError) as exc:  # request-shape errors from the binding
            raise InvalidRequestError(f"invalid request: {exc}") from None

    def _stream(self, method: str, request: dict) -> ChunkStream:
        cancelled = threading.Event()
        return ChunkStream(self._chunks(method, request, cancelled), cancelled)

    def _chunks(self, method: str, request: dict, cancelled: threading.Event) -> Iterator[dict]:
        wants_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        body = {**request, "stream": True, "stream_options": {"include_usage": True}}
        chunks: queue.Queue[Any] = queue.Queue()
        done = object()

        def on_chunk(chunk: Any) -> bool:
            chunks.put(chunk)
            return cancelled.is_set()  # True tells llama.cpp to stop and release the slot

        def produce() -> None:
            try:
                if not cancelled.is_set():  # cancelled before it started: cost the engine nothing
                    self._call(method, body, on_chunk)
            except BaseException as exc:
                chunks.put(exc)
            finally:
                chunks.put(done)

        # Started on the first next(), so a generator that is never iterated costs nothing.
        threading.Thread(target=produce, name="strata-llama-stream", daemon=True).start()
        try:
            while (item := chunks.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                chunk = raise_if_error(item)
                if chunk.get("usage"):
                    record_usage(self._stats, chunk["usage"], self._lock)
                    if not chunk.get("choices") and not wants_usage:
                        continue  # we asked for usage for our statistics, the caller didn't
                yield self._named(chunk)
        finally:
            cancelled.set()

    def _named(self, payload: dict) -> dict:
        # llama.cpp reports the model as its file path; callers want a name.
        payload["model"] = self.model_id
        return payload

    # -- tokens, statistics, lifecycle ----------------------------------------------------------

    def count_tokens(self, text_or_messages: str | list[dict], *, add_generation_prompt: bool = True) -> int:
        """Tokens of a raw text, or of a conversation after the chat template is applied.

        ``add_generation_prompt=False`` counts the conversation alone, without the assistant
        header the template appends: the prefix a later request can reuse from the KV cache.
        """
        if isinstance(text_or_messages, str):
            data = self._post("/tokenize", {"content": text_or_messages, "add_special": False})
            return len(data["tokens"])
        check_chat_request({"messages": text_or_messages})
        body = {"messages": text_or_messages, "add_generation_prompt": add_generation_prompt}
        data = self._post("/v1/chat/completions/input_tokens", body)
        return int(data["input_tokens"])

    def _post(self, path: str, body: dict) -> dict:
        if self._server is None:
            raise EngineClosedError("the chat engine is closed")
        response = self._http.post(path, json=body)
        payload = response.json()
        if response.status_code >= 400:
            raise_if_error(payload)
        return payload

    def slot_context(self) -> int:
        """Tokens one request may hold, prompt and answer together: llama.cpp splits ``n_ctx``
        over the ``n_parallel`` slots (asked once, from llama.cpp's ``/props``)."""
        if self._slot_context is None:
            if self._server is None:
                raise EngineClosedError("the chat engine is closed")
            response = self._http.get("/props")
            response.raise_for_status()
            self._slot_context = int(response.json()["default_generation_settings"]["n_ctx"])
        return self._slot_context

    def cache_stats(self) -> dict[str, Any]:
        """Prefix-cache statistics: requests, prompt/cached/completion token totals, hit rate."""
        with self._lock:
            return self._stats.as_dict()

    def metrics(self) -> str:
        """llama.cpp's Prometheus metrics text (slots, tokens, throughput)."""
        if self._server is None:
            raise EngineClosedError("the chat engine is closed")
        return self._server.handle_metrics()

    def close(self) -> None:
        """Stop llama.cpp's loop and free the model (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            self._http.close()
            del server  # ~Server() terminates the loop thread and joins it

    def __enter__(self) -> ChatEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_prompt(request: Any) -> dict:
    if not isinstance(request, dict) or not isinstance(request.get("prompt"), str | list):
        raise InvalidRequestError("a completion request needs a 'prompt' string")
    return request


def engine_config_from(settings: RuntimeSettings) -> EngineConfig:
    """The local engine's configuration from settings."""
    return EngineConfig(
        model_path=settings.model_path,
        n_ctx=settings.n_ctx,
        n_parallel=settings.n_parallel,
        n_threads=settings.threads,
    )


def create_chat_engine(settings: RuntimeSettings | None = None) -> ChatBackend:
    """The configured chat backend: a remote OpenAI-compatible server if a base URL is set,
    otherwise the local llama.cpp engine."""
    settings = settings or RuntimeSettings()
    if settings.openai_base_url:
        from infrastructure.runtime.openai_client import OpenAICompatibleClient

        return OpenAICompatibleClient(
            settings.openai_base_url,
            api_key=settings.openai_api_key,
            model=settings.openai_model,
            timeout=settings.request_timeout_s,
        )
    return ChatEngine(engine_config_from(settings))
