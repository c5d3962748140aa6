"""AWS event-stream framing (``application/vnd.amazon.eventstream``), encode side only.

Shared by the gateway's streams (``model_layer.wire.eventstream``). SageMaker's
``InvokeEndpointWithResponseStream`` returns the container's chunks as ``PayloadPart``
events in this binary framing; the local SageMaker-runtime routes of
:mod:`infrastructure.runtime.container` emit it so that botocore's own parser reads them.

Frame: total length (u32) | headers length (u32) | CRC32 of those 8 bytes | headers | payload |
CRC32 of everything before. A string header: name length (u8) | name | type 7 | length (u16) | value.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Mapping

_STRING = 7
_MAX_HEADERS = 128 * 1024
_MAX_PAYLOAD = 24 * 1024 * 1024


def _headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = bytearray()
    for name, value in items:
        raw_name, raw_value = name.encode("ascii"), value.encode("utf-8")
        out += struct.pack("!B", len(raw_name)) + raw_name
        out += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: Mapping[str, str] | Iterable[tuple[str, str]], payload: bytes) -> bytes:
    """One framed event-stream message; headers keep their order (string-typed)."""
    raw_headers = _headers(headers)
    if len(raw_headers) > _MAX_HEADERS or len(payload) > _MAX_PAYLOAD:
        raise ValueError("event-stream message exceeds the 128 KiB header / 24 MiB payload limits")
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    head = prelude + struct.pack("!I", zlib.crc32(prelude)) + raw_headers + payload
    return head + struct.pack("!I", zlib.crc32(head))


def payload_part(data: bytes) -> bytes:
    """A SageMaker ``PayloadPart`` event carrying raw model bytes."""
    return encode_message(
        {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"},
        data,
    )


def model_stream_error(message: str, error_code: str = "ModelStreamError") -> bytes:
    """A ``ModelStreamError`` exception event (botocore raises it while iterating the stream)."""
    body = json.dumps({"Message": message, "ErrorCode": error_code}).encode()
    return encode_message(
        {
            ":exception-type": "ModelStreamError",
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        body,
    )
