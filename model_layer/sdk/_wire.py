"""What the sync and async clients share: auth, URLs, request bodies, retries, stream decoding.

Everything here is I/O-free, so :class:`~model_layer.sdk.client.StrataClient` and
:class:`~model_layer.sdk.client.AsyncStrataClient` differ only in how they send and sleep.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from model_layer.sdk.errors import ModelStreamError, StrataAPIError, error_from_stream_exception
from model_layer.sdk.types import StreamEvent, stream_event_from_wire
from strata.errors import ConfigurationError

SIGNING_NAME = "bedrock"  # the SigV4 service name of all four Bedrock clients


class Auth(Protocol):
    def headers(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        """Headers to add to one request (called again for every retry: signatures expire)."""
        ...


@dataclass(frozen=True)
class ApiKeyAuth:
    """A gateway API key, sent as ``Authorization: Bearer``."""

    api_key: str

    def headers(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass(frozen=True)
class SigV4Auth:
    """An access key pair the gateway issued, signed exactly as boto3 signs (botocore's signer)."""

    access_key: str
    secret_key: str
    region: str = "us-east-1"
    session_token: str | None = None

    def headers(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth as BotocoreSigV4
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        credentials = Credentials(self.access_key, self.secret_key, self.session_token)
        BotocoreSigV4(credentials, SIGNING_NAME, self.region).add_auth(request)
        wanted = ("authorization", "x-amz-date", "x-amz-security-token")
        return {k: v for k, v in request.headers.items() if k.lower() in wanted}


def resolve_auth(
    api_key: str | None,
    access_key: str | None,
    secret_key: str | None,
    session_token: str | None,
    region: str,
) -> Auth:
    """Explicit arguments first, then ``STRATA_API_KEY``; a half-given key pair is an error."""
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise ConfigurationError("both access_key and secret_key are needed for SigV4")
        return SigV4Auth(access_key, secret_key, region, session_token)
    key = api_key or os.environ.get("STRATA_API_KEY")
    if not key:
        raise ConfigurationError(
            "no gateway credentials",
            hint="pass api_key= or access_key=/secret_key=, or set STRATA_API_KEY; create one with "
            "`strata keys create`",
        )
    return ApiKeyAuth(key)


def model_path(model_id: str, operation: str) -> str:
    """``/model/{modelId}/{operation}`` with the id encoded as botocore encodes path labels."""
    if not model_id:
        raise ConfigurationError("model_id must not be empty")
    return f"/model/{quote(model_id, safe='-._~')}/{operation}"


def usage_path(since: datetime | None, until: datetime | None) -> str:
    """``/strata/v1/usage`` with ISO-8601 ``since``/``until`` (naive times are taken as UTC)."""
    query = {}
    for name, when in (("since", since), ("until", until)):
        if when is not None:
            query[name] = (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()
    return "/strata/v1/usage" + (f"?{urlencode(query)}" if query else "")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries on throttling, 5xx and connection failures, with capped exponential backoff.

    A server hint (``x-amz-retry-after`` / ``retry-after``) replaces the computed delay, capped by
    ``max_delay_s``. Streams are retried only before their first event.
    """

    max_attempts: int = 3
    base_delay_s: float = 0.25
    max_delay_s: float = 20.0

    def should_retry(self, error: StrataAPIError, attempt: int) -> bool:
        return error.retryable and attempt < self.max_attempts

    def delay_s(self, error: StrataAPIError, attempt: int) -> float:
        if error.retry_after_s is not None:
            return min(error.retry_after_s, self.max_delay_s)
        backoff = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        return backoff * random.uniform(0.5, 1.0)  # jitter: clients that failed together spread out


def _blocks(value: str | list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    return [{"text": value}] if isinstance(value, str) else list(value)


def as_messages(messages: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Converse messages; a plain string is one user turn."""
    if isinstance(messages, str):
        return [{"role": "user", "content": [{"text": messages}]}]
    return list(messages)


def converse_body(
    messages: str | list[dict[str, Any]],
    *,
    system: str | list[dict[str, Any]] | None = None,
    inference_config: dict[str, Any] | None = None,
    tool_config: dict[str, Any] | None = None,
    guardrail_config: dict[str, Any] | None = None,
    additional_model_request_fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Converse request body, leaving out what the caller did not set."""
    body: dict[str, Any] = {"messages": as_messages(messages)}
    optional = {
        "system": _blocks(system),
        "inferenceConfig": inference_config,
        "toolConfig": tool_config,
        "guardrailConfig": guardrail_config,
        "additionalModelRequestFields": additional_model_request_fields,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def count_tokens_body(
    messages: str | list[dict[str, Any]], system: str | list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    converse: dict[str, Any] = {"messages": as_messages(messages)}
    if system is not None:
        converse["system"] = _blocks(system)
    return {"input": {"converse": converse}}


def encode_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


class EventStreamDecoder:
    """Feeds raw bytes of an ``application/vnd.amazon.eventstream`` body, yields typed events.

    Framing and CRCs are checked by botocore's ``EventStreamBuffer``; exception messages inside
    the stream are raised as the typed SDK errors.
    """

    def __init__(self, convert: Callable[[str, dict[str, Any]], Any] = stream_event_from_wire) -> None:
        from botocore.eventstream import EventStreamBuffer

        self._buffer = EventStreamBuffer()
        self._convert = convert  # (event type, JSON payload) -> a typed event, or None to skip it

    def feed(self, data: bytes) -> Iterator[StreamEvent]:
        from botocore.eventstream import ParserError

        self._buffer.add_data(data)
        try:
            messages = list(self._buffer)
        except ParserError as exc:
            raise ModelStreamError(f"corrupt event stream from the gateway: {exc}") from None
        for message in messages:
            headers = message.headers
            if headers.get(":message-type") in ("exception", "error"):
                raise error_from_stream_exception(headers, message.payload)
            body = json.loads(message.payload) if message.payload else {}
            event = self._convert(str(headers.get(":event-type", "")), body)
            if event is not None:
                yield event
