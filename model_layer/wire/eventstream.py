"""AWS event-stream framing (``application/vnd.amazon.eventstream``): the encoder the gateway streams.

One message, big-endian: ``total_length u32 | headers_length u32 | prelude_crc u32 | headers |
payload | message_crc u32``; both CRCs are CRC-32, the second covering everything before it.
Headers here are all strings (type 7). Three kinds of message (reference §4):

* event: ``:event-type`` = the stream member name (``messageStart``, ``chunk``…), JSON payload
  holding that member's fields (not wrapped in the name);
* modeled exception: ``:exception-type`` = the member name in camel case
  (``modelStreamErrorException``) — botocore raises ``EventStreamError`` with that code;
* unmodeled error: ``:error-code`` / ``:error-message`` and an empty payload.

Which exceptions a stream may carry comes from botocore's model of the operation's output, so a
failure the model cannot name becomes the nearest modeled one instead of an unknown event.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from infrastructure.runtime.eventstream import encode_message
from model_layer.errors import GatewayError
from model_layer.wire.validate import operation_model

CONTENT_TYPE = "application/vnd.amazon.eventstream"


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_event(event_type: str, payload: dict[str, Any]) -> bytes:
    """A normal event, e.g. ``encode_event("contentBlockDelta", {...})``."""
    headers = [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ]
    return encode_message(headers, _json(payload))


def encode_exception(member: str, payload: dict[str, Any]) -> bytes:
    """A modeled exception event; ``member`` is the camel-case stream member name."""
    headers = [
        (":exception-type", member),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    ]
    return encode_message(headers, _json(payload))


def encode_error(code: str, message: str) -> bytes:
    """An unmodeled error (botocore reports ``code`` as the error code)."""
    headers = [(":message-type", "error"), (":error-code", code), (":error-message", message)]
    return encode_message(headers, b"")


@functools.cache
def stream_exception_members(service: str, operation: str) -> frozenset[str]:
    """Camel-case exception members of the operation's event stream, read from botocore's model."""
    output = operation_model(service, operation).output_shape
    for member in output.members.values():
        if member.serialization.get("eventstream"):
            return frozenset(
                name for name, shape in member.members.items() if shape.metadata.get("exception")
            )
    return frozenset()


def _camel(code: str) -> str:
    return code[:1].lower() + code[1:]


def encode_stream_failure(exc: GatewayError, service: str, operation: str) -> bytes:
    """The exception event for a failure after the stream started.

    The error's own member is used where the operation models it; a model-side failure it does not
    model (ModelTimeout, ModelError, …) becomes ``modelStreamErrorException`` carrying the
    original status; anything else becomes ``internalServerException``.
    """
    members = stream_exception_members(service, operation)
    member = _camel(exc.code)
    payload: dict[str, Any] = {"message": exc.message, **exc.extra}
    if member not in members:
        if "modelStreamErrorException" in members and exc.code.startswith("Model"):
            payload = {
                "message": exc.message,
                "originalStatusCode": exc.status,
                "originalMessage": exc.message,
            }
            member = "modelStreamErrorException"
        else:
            member = "internalServerException"
    return encode_exception(member, payload)
