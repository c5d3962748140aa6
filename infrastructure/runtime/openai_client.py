"""A chat backend that talks to any OpenAI-compatible server (Ollama, vLLM, llama-server, TGI).

Same interface as :class:`infrastructure.runtime.engine.ChatEngine`, over httpx: the rest of
strata cannot tell a remote model from the embedded one. Prefix-cache statistics come from
``usage.prompt_tokens_details.cached_tokens`` where the server reports it (llama-server, vLLM).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from infrastructure.runtime.engine import (
    AsyncMethods,
    CacheStats,
    check_chat_request,
    raise_if_error,
    record_usage,
)
from infrastructure.runtime.errors import EndpointUnreachableError, InvalidRequestError


class OpenAICompatibleClient(AsyncMethods):
    """Chat over HTTP with a server exposing ``/chat/completions`` (base URL ends in ``/v1``)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidRequestError(
                f"not an HTTP URL: {base_url!r}", hint="e.g. STRATA_OPENAI_BASE_URL=http://localhost:11434/v1"
            )
        self.base_url = base_url.rstrip("/")
        self.model_id = model or "default"
        self._model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._stats = CacheStats()
        self._lock = threading.Lock()

    # -- requests -------------------------------------------------------------------------------

    def chat(self, request: dict) -> dict:
        """One chat completion."""
        body = self._body(check_chat_request(request), stream=False)
        response = raise_if_error(self._send("POST", "/chat/completions", body))
        record_usage(self._stats, response.get("usage"), self._lock)
        return response

    def stream_chat(self, request: dict) -> Iterator[dict]:
        """Chat-completion chunks from the server's SSE stream; closing stops the download."""
        return self._stream("/chat/completions", self._body(check_chat_request(request), stream=True))

    def complete(self, request: dict) -> dict:
        """A raw-prompt completion (``/completions``)."""
        body = self._body(_require_prompt(request), stream=False)
        response = raise_if_error(self._send("POST", "/completions", body))
        record_usage(self._stats, response.get("usage"), self._lock)
        return response

    def stream_complete(self, request: dict) -> Iterator[dict]:
        """Raw-prompt completion chunks."""
        return self._stream("/completions", self._body(_require_prompt(request), stream=True))

    def _body(self, request: dict, *, stream: bool) -> dict:
        body = {**request, "stream": stream}
        if self._model and "model" not in body:
            body["model"] = self._model
        if stream:
            body.setdefault("stream_options", {"include_usage": True})
        return body

    def _send(self, method: str, path: str, body: dict | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return _decode(response)

    def _stream(self, path: str, body: dict) -> Iterator[dict]:
        try:
            with self._http.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    _decode(response)
                for chunk in _sse_events(response.iter_lines()):
                    raise_if_error(chunk)
                    if chunk.get("usage"):
                        record_usage(self._stats, chunk["usage"], self._lock)
                    yield chunk
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> EndpointUnreachableError:
        return EndpointUnreachableError(
            f"cannot reach the OpenAI-compatible server at {self.base_url}: {type(exc).__name__}",
            hint="is it running? check STRATA_OPENAI_BASE_URL",
        )

    # -- tokens, statistics, lifecycle ----------------------------------------------------------

    def count_tokens(self, text_or_messages: str | list[dict]) -> int:
        """Exact count from llama-server's tokenizer routes; otherwise from a 1-token generation's
        ``usage.prompt_tokens`` (Ollama, vLLM and TGI have no tokenize route in the OpenAI API)."""
        root = self.base_url.removesuffix("/v1")
        if isinstance(text_or_messages, str):
            probe = ("POST", f"{root}/tokenize", {"content": text_or_messages, "add_special": False})
            fallback = ("/completions", {"prompt": text_or_messages})
        else:
            check_chat_request({"messages": text_or_messages})
            probe = ("POST", f"{root}/v1/chat/completions/input_tokens", {"messages": text_or_messages})
            fallback = ("/chat/completions", {"messages": text_or_messages})
        try:
            data = self._send(*probe)
            return len(data["tokens"]) if "tokens" in data else int(data["input_tokens"])
        except InvalidRequestError as exc:
            if exc.status_code not in (404, 405, 501):
                raise
        body = self._body({**fallback[1], "max_tokens": 1}, stream=False)
        return int(raise_if_error(self._send("POST", fallback[0], body))["usage"]["prompt_tokens"])

    def cache_stats(self) -> dict[str, Any]:
        """Prefix-cache statistics as reported by the server's usage blocks."""
        with self._lock:
            return self._stats.as_dict()

    def close(self) -> None:
        self._http.close()


def _require_prompt(request: Any) -> dict:
    if not isinstance(request, dict) or not isinstance(request.get("prompt"), str | list):
        raise InvalidRequestError("a completion request needs a 'prompt' string")
    return request


def _decode(response: httpx.Response) -> Any:
    """JSON body, or an error carrying the server's status and message."""
    try:
        payload = response.json()
    except ValueError:
        payload = {"error": {"message": response.text[:200] or response.reason_phrase}}
    if response.status_code >= 400:
        error = payload.get("error") if isinstance(payload, dict) else None
        message = error.get("message") if isinstance(error, dict) else (error or str(payload)[:200])
        raise InvalidRequestError(
            f"the server answered {response.status_code}: {message}", status_code=response.status_code
        )
    return payload


def _sse_events(lines: Iterator[str]) -> Iterator[dict]:
    """Parse ``data: {...}`` server-sent events until ``data: [DONE]``."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments and event names carry nothing for us
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            yield json.loads(data)
        except ValueError:
            raise InvalidRequestError(
                f"malformed stream event from the server: {data[:120]}", status_code=502
            ) from None
