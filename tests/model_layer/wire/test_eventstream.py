"""The event-stream encoder, checked byte for byte and by botocore's own decoder."""

from __future__ import annotations

import binascii
import json

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from model_layer.errors import (
    GatewayError,
    InternalServerException,
    ModelErrorException,
    ModelTimeoutException,
    ResourceNotFoundException,
    ThrottlingException,
)
from model_layer.wire import eventstream

# reference §4: contentBlockDelta {"contentBlockIndex":0,"delta":{"text":"Hi"}}, 148 bytes
WORKED_EXAMPLE = bytes.fromhex(
    "00000094 00000057 b4ab9aee"
    "0b3a6576656e742d74797065070011"
    "636f6e74656e74426c6f636b44656c7461"
    "0d3a636f6e74656e742d74797065070010"
    "6170706c69636174696f6e2f6a736f6e"
    "0d3a6d6573736167652d74797065070005"
    "6576656e74"
    "7b22636f6e74656e74426c6f636b496e64"
    "6578223a302c2264656c7461223a7b2274"
    "657874223a224869227d7d"
    "1f944657".replace(" ", "")
)


def decode(frames: bytes) -> list:
    buffer = EventStreamBuffer()
    buffer.add_data(frames)
    return list(buffer)


def test_worked_example_is_reproduced_byte_for_byte():
    frame = eventstream.encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    assert frame == WORKED_EXAMPLE
    assert len(frame) == 148


def test_botocore_decodes_the_frame_with_valid_crcs():
    (message,) = decode(WORKED_EXAMPLE)
    assert message.prelude.total_length == 148
    assert message.prelude.headers_length == 87
    assert message.prelude.crc == 0xB4AB9AEE
    assert message.crc == 0x1F944657
    assert message.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(message.payload) == {"contentBlockIndex": 0, "delta": {"text": "Hi"}}


def test_several_frames_and_unicode_payloads_decode_in_order():
    frames = eventstream.encode_event("messageStart", {"role": "assistant"}) + eventstream.encode_event(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "héllo ✓"}}
    )
    first, second = decode(frames)
    assert first.headers[":event-type"] == "messageStart"
    assert json.loads(second.payload)["delta"]["text"] == "héllo ✓"


def test_a_corrupted_frame_fails_botocores_crc_check():
    broken = bytearray(WORKED_EXAMPLE)
    broken[-10] ^= 0xFF
    with pytest.raises(ChecksumMismatch):
        decode(bytes(broken))


def test_message_crc_covers_the_prelude_crc():
    frame = eventstream.encode_message([(":message-type", "event")], b"{}")
    assert int.from_bytes(frame[-4:], "big") == binascii.crc32(frame[:-4]) & 0xFFFFFFFF


def test_exception_and_error_frames():
    (exc,) = decode(eventstream.encode_exception("throttlingException", {"message": "slow down"}))
    assert exc.headers[":message-type"] == "exception"
    assert exc.headers[":exception-type"] == "throttlingException"
    assert json.loads(exc.payload) == {"message": "slow down"}
    (err,) = decode(eventstream.encode_error("InternalFailure", "boom"))
    assert err.headers == {
        ":message-type": "error",
        ":error-code": "InternalFailure",
        ":error-message": "boom",
    }
    assert err.payload == b""


def test_stream_exception_members_come_from_the_service_model():
    members = eventstream.stream_exception_members("bedrock-runtime", "ConverseStream")
    assert "modelStreamErrorException" in members
    assert "throttlingException" in members
    assert "modelTimeoutException" not in members  # only InvokeModelWithResponseStream models it
    assert "modelTimeoutException" in eventstream.stream_exception_members(
        "bedrock-runtime", "InvokeModelWithResponseStream"
    )


@pytest.mark.parametrize(
    ("error", "operation", "member", "payload"),
    [
        (ThrottlingException("slow"), "ConverseStream", "throttlingException", {"message": "slow"}),
        (
            ModelTimeoutException("late"),
            "ConverseStream",
            "modelStreamErrorException",
            {"message": "late", "originalStatusCode": 408, "originalMessage": "late"},
        ),
        (
            ModelTimeoutException("late"),
            "InvokeModelWithResponseStream",
            "modelTimeoutException",
            {"message": "late"},
        ),
        (
            ModelErrorException("bad"),
            "ConverseStream",
            "modelStreamErrorException",
            {"message": "bad", "originalStatusCode": 424, "originalMessage": "bad"},
        ),
        (ResourceNotFoundException("gone"), "ConverseStream", "internalServerException", {"message": "gone"}),
        (InternalServerException("oops"), "ConverseStream", "internalServerException", {"message": "oops"}),
    ],
)
def test_failures_map_to_the_operations_modeled_members(
    error: GatewayError, operation: str, member: str, payload: dict
):
    (message,) = decode(eventstream.encode_stream_failure(error, "bedrock-runtime", operation))
    assert message.headers[":exception-type"] == member
    assert json.loads(message.payload) == payload


def test_oversized_payloads_are_refused():
    with pytest.raises(ValueError, match="24 MiB"):
        eventstream.encode_message([(":message-type", "event")], b"x" * (24 * 1024 * 1024 + 1))
