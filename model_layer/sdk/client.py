"""Typed HTTP clients for the gateway: :class:`StrataClient` (sync) and :class:`AsyncStrataClient`.

They speak the gateway's Bedrock wire (Converse, ConverseStream as an AWS event stream,
CountTokens, ListFoundationModels) and its ``/v1/embeddings`` route, over httpx, authenticated with
a gateway API key (bearer) or an issued access key pair (SigV4, signed by botocore's signer, so a
request is byte-for-byte what boto3 would send). Errors become the typed exceptions of
:mod:`model_layer.sdk.errors`; throttling, 5xx and connection failures are retried with backoff
that honours the server's ``x-amz-retry-after``. Pass ``transport=`` (an httpx transport, such as
``httpx.ASGITransport(app)``) to talk to an in-process gateway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any, Self

import httpx

from model_layer.sdk._wire import (
    Auth,
    EventStreamDecoder,
    RetryPolicy,
    converse_body,
    count_tokens_body,
    encode_json,
    model_path,
    resolve_auth,
    usage_path,
)
from model_layer.sdk.errors import (
    APIConnectionError,
    APITimeoutError,
    ModelStreamError,
    StrataAPIError,
    error_from_response,
)
from model_layer.sdk.types import ConverseResponse, Embeddings, ModelSummary, StreamEvent, UsageReport

USER_AGENT = "strata-sdk/0.1"
Messages = str | list[dict[str, Any]]
System = str | list[dict[str, Any]] | None


class _ClientBase:
    """Auth, URLs, request building, retry decisions and response parsing shared by every SDK
    client; the sync and async transports below add only the I/O (their httpx client and sleep)."""

    USER_AGENT = USER_AGENT
    DEFAULT_TIMEOUT_S = 120.0
    _HTTP: type[httpx.Client] | type[httpx.AsyncClient]  # the transport's httpx client class
    _SLEEP: Callable[[float], Any]  # the transport's default sleep between attempts

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        region: str = "us-east-1",
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        """``transport``: an httpx transport (async for the async clients); ``sleep``: the wait
        between attempts (default ``time.sleep``, or ``asyncio.sleep`` for the async clients)."""
        self.base_url = base_url.rstrip("/")
        self.auth: Auth = resolve_auth(api_key, access_key, secret_key, session_token, region)
        self.retry = retry or RetryPolicy()
        self._http: Any = self._HTTP(
            transport=transport, timeout=self.DEFAULT_TIMEOUT_S if timeout is None else timeout
        )
        self._sleep = self._SLEEP if sleep is None else sleep

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Request:
        url = self.base_url + path
        content = encode_json(body) if body is not None else b""
        headers = {"Accept": "application/json", "User-Agent": self.USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(self.auth.headers(method, url, content, headers))
        return httpx.Request(method, url, content=content, headers=headers)

    @staticmethod
    def _transport_error(exc: httpx.TransportError) -> StrataAPIError:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return APITimeoutError(f"no answer from the gateway in time ({type(exc).__name__})")
        return APIConnectionError(f"cannot reach the gateway: {exc or type(exc).__name__}")

    def _retry_delay(self, error: StrataAPIError, attempt: int) -> float:
        """The wait before the next attempt after ``error`` on attempt ``attempt`` (from 1); raises
        ``error`` when the retry policy gives up."""
        if not self.retry.should_retry(error, attempt):
            raise error
        return self.retry.delay_s(error, attempt)

    @staticmethod
    def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
        return response.json() if response.content else {}

    @staticmethod
    def _input_tokens(response: httpx.Response) -> int:
        return int(response.json()["inputTokens"])

    @staticmethod
    def _models(response: httpx.Response) -> list[ModelSummary]:
        return [ModelSummary.from_wire(s) for s in response.json().get("modelSummaries", [])]

    @staticmethod
    def _usage(response: httpx.Response) -> UsageReport:
        return UsageReport.from_wire(response.json())

    @staticmethod
    def _converse(response: httpx.Response) -> ConverseResponse:
        return ConverseResponse.from_wire(response.json(), response.headers.get("x-amzn-requestid"))

    @staticmethod
    def _embeddings(model_id: str, response: httpx.Response) -> Embeddings:
        body = response.json()
        vectors = [item["embedding"] for item in sorted(body["data"], key=lambda d: d["index"])]
        return Embeddings(model_id, vectors, int(body.get("usage", {}).get("prompt_tokens", 0)))

    @staticmethod
    def _embed_body(model_id: str, texts: list[str]) -> dict[str, Any]:
        return {"model": model_id, "input": list(texts), "encoding_format": "float"}


class _SyncTransport(_ClientBase):
    """The blocking HTTP side every sync client shares: one httpx client, retries, context manager."""

    _HTTP = httpx.Client
    _SLEEP = staticmethod(time.sleep)

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None, *, stream: bool = False):
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.send(self._request(method, path, body), stream=stream)
            except httpx.TransportError as exc:
                error = self._transport_error(exc)
            else:
                if response.status_code < 400:
                    return response
                content = response.read()
                response.close()
                error = error_from_response(response.status_code, response.headers, content)
            self._sleep(self._retry_delay(error, attempt))

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._json_or_empty(self._send(method, path, body))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StrataClient(_SyncTransport):
    """Synchronous gateway client. Use as a context manager, or call :meth:`close`."""

    def converse(
        self,
        model_id: str,
        messages: Messages,
        *,
        system: System = None,
        inference_config: dict[str, Any] | None = None,
        tool_config: dict[str, Any] | None = None,
        guardrail_config: dict[str, Any] | None = None,
        additional_model_request_fields: dict[str, Any] | None = None,
    ) -> ConverseResponse:
        """Bedrock Converse. ``messages`` are Converse messages, or one user turn as a string."""
        body = converse_body(
            messages,
            system=system,
            inference_config=inference_config,
            tool_config=tool_config,
            guardrail_config=guardrail_config,
            additional_model_request_fields=additional_model_request_fields,
        )
        return self._converse(self._send("POST", model_path(model_id, "converse"), body))

    def converse_stream(
        self,
        model_id: str,
        messages: Messages,
        *,
        system: System = None,
        inference_config: dict[str, Any] | None = None,
        tool_config: dict[str, Any] | None = None,
        guardrail_config: dict[str, Any] | None = None,
        additional_model_request_fields: dict[str, Any] | None = None,
    ) -> Iterator[StreamEvent]:
        """Bedrock ConverseStream: errors before the stream raise here; later ones while iterating.

        Close the returned iterator (``.close()``) to stop early and free the connection.
        """
        body = converse_body(
            messages,
            system=system,
            inference_config=inference_config,
            tool_config=tool_config,
            guardrail_config=guardrail_config,
            additional_model_request_fields=additional_model_request_fields,
        )
        response = self._send("POST", model_path(model_id, "converse-stream"), body, stream=True)
        return self._events(response)

    @staticmethod
    def _events(response: httpx.Response) -> Iterator[StreamEvent]:
        decoder = EventStreamDecoder()
        try:
            for chunk in response.iter_bytes():
                yield from decoder.feed(chunk)
        except httpx.TransportError as exc:
            raise ModelStreamError(f"the stream broke off: {exc or type(exc).__name__}") from None
        finally:
            response.close()

    def count_tokens(self, model_id: str, messages: Messages, *, system: System = None) -> int:
        body = count_tokens_body(messages, system)
        return self._input_tokens(self._send("POST", model_path(model_id, "count-tokens"), body))

    def embed(self, model_id: str, texts: list[str]) -> Embeddings:
        """Embed several texts in one call (the gateway's ``/v1/embeddings``)."""
        return self._embeddings(
            model_id, self._send("POST", "/v1/embeddings", self._embed_body(model_id, texts))
        )

    def list_models(self) -> list[ModelSummary]:
        return self._models(self._send("GET", "/foundation-models"))

    def usage(self, *, since: datetime | None = None, until: datetime | None = None) -> UsageReport:
        """This tenant's metered usage, spend and budgets (optionally between ``since`` and ``until``)."""
        return self._usage(self._send("GET", usage_path(since, until)))


class _AsyncTransport(_ClientBase):
    """The asyncio twin of :class:`_SyncTransport`."""

    _HTTP = httpx.AsyncClient
    _SLEEP = staticmethod(asyncio.sleep)

    async def _send(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, stream: bool = False
    ):
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.send(self._request(method, path, body), stream=stream)
            except httpx.TransportError as exc:
                error = self._transport_error(exc)
            else:
                if response.status_code < 400:
                    return response
                content = await response.aread()
                await response.aclose()
                error = error_from_response(response.status_code, response.headers, content)
            await self._sleep(self._retry_delay(error, attempt))

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._json_or_empty(await self._send(method, path, body))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncStrataClient(_AsyncTransport):
    """The asyncio twin of :class:`StrataClient`; ``await converse_stream(...)`` returns an async iterator."""

    async def converse(
        self,
        model_id: str,
        messages: Messages,
        *,
        system: System = None,
        inference_config: dict[str, Any] | None = None,
        tool_config: dict[str, Any] | None = None,
        guardrail_config: dict[str, Any] | None = None,
        additional_model_request_fields: dict[str, Any] | None = None,
    ) -> ConverseResponse:
        body = converse_body(
            messages,
            system=system,
            inference_config=inference_config,
            tool_config=tool_config,
            guardrail_config=guardrail_config,
            additional_model_request_fields=additional_model_request_fields,
        )
        return self._converse(await self._send("POST", model_path(model_id, "converse"), body))

    async def converse_stream(
        self,
        model_id: str,
        messages: Messages,
        *,
        system: System = None,
        inference_config: dict[str, Any] | None = None,
        tool_config: dict[str, Any] | None = None,
        guardrail_config: dict[str, Any] | None = None,
        additional_model_request_fields: dict[str, Any] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        body = converse_body(
            messages,
            system=system,
            inference_config=inference_config,
            tool_config=tool_config,
            guardrail_config=guardrail_config,
            additional_model_request_fields=additional_model_request_fields,
        )
        response = await self._send("POST", model_path(model_id, "converse-stream"), body, stream=True)
        return self._events(response)

    @staticmethod
    async def _events(response: httpx.Response) -> AsyncIterator[StreamEvent]:
        decoder = EventStreamDecoder()
        try:
            async for chunk in response.aiter_bytes():
                for event in decoder.feed(chunk):
                    yield event
        except httpx.TransportError as exc:
            raise ModelStreamError(f"the stream broke off: {exc or type(exc).__name__}") from None
        finally:
            await response.aclose()

    async def count_tokens(self, model_id: str, messages: Messages, *, system: System = None) -> int:
        response = await self._send(
            "POST", model_path(model_id, "count-tokens"), count_tokens_body(messages, system)
        )
        return self._input_tokens(response)

    async def embed(self, model_id: str, texts: list[str]) -> Embeddings:
        response = await self._send("POST", "/v1/embeddings", self._embed_body(model_id, texts))
        return self._embeddings(model_id, response)

    async def list_models(self) -> list[ModelSummary]:
        return self._models(await self._send("GET", "/foundation-models"))

    async def usage(self, *, since: datetime | None = None, until: datetime | None = None) -> UsageReport:
        """This tenant's metered usage, spend and budgets (optionally between ``since`` and ``until``)."""
        return self._usage(await self._send("GET", usage_path(since, until)))
