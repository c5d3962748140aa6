"""AWS event-stream framing (``application/vnd.amazon.eventstream``), encode side only.

SageMaker's ``InvokeEndpointWithResponseStream`` returns the container's chunks as ``PayloadPart``
events in this binary framing; the local SageMaker-runtime routes of
:mod:`infrastructure.runtime.container` emit it so that botocore's own parser reads them.

Frame: total length (u32) | headers length (u32) | CRC32 of those 8 bytes | headers | payload |
CRC32 of everything before. A string header: name length (u8) | name | type 7 | length (u16) | value.
"""

from __future__ import annotations

import json
import struct
import zlib

_STRING = 7


def _headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack("!B", len(raw_name)) + raw_name
        out += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One framed event-stream message."""
    raw_headers = _headers(headers)
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
