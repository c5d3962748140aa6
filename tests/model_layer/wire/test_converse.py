"""Converse ⇄ internal translations, table by table (pure functions, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from model_layer.errors import ValidationException
from model_layer.types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ChatResponse,
    MessageStart,
    MessageStop,
    Metadata,
    ToolSpec,
    ToolUseStart,
    Usage,
)
from model_layer.wire.converse import (
    chat_request_from_converse,
    converse_response,
    converse_stream_event,
    select_response_fields,
    usage_json,
)

USER = {"role": "user", "content": [{"text": "hi"}, {"cachePoint": {"type": "default"}}]}
WEATHER = {"name": "weather", "description": "Weather now", "inputSchema": {"json": {"type": "object"}}}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"messages": [USER]},
            {"messages": [USER], "system": [], "max_tokens": None, "tools": [], "extra": {}},
        ),
        (
            {
                "messages": [USER],
                "system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
                "inferenceConfig": {
                    "maxTokens": 7,
                    "temperature": 0.2,
                    "topP": 0.9,
                    "stopSequences": ["END"],
                },
            },
            {
                "system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
                "max_tokens": 7,
                "temperature": 0.2,
                "top_p": 0.9,
                "stop_sequences": ["END"],
            },
        ),
        (
            {
                "messages": [USER],
                "toolConfig": {
                    "tools": [{"toolSpec": WEATHER}, {"cachePoint": {"type": "default"}}],
                    "toolChoice": {"tool": {"name": "weather"}},
                },
            },
            {
                "tools": [ToolSpec("weather", "Weather now", {"type": "object"})],
                "tool_choice": {"tool": {"name": "weather"}},
            },
        ),
        (
            {"messages": [USER], "toolConfig": {"tools": [{"toolSpec": {**WEATHER, "description": None}}]}},
            {"tools": [ToolSpec("weather", "", {"type": "object"})], "tool_choice": None},
        ),
        (
            {
                "messages": [USER],
                "outputConfig": {
                    "textFormat": {
                        "type": "json_schema",
                        "structure": {"jsonSchema": {"schema": '{"type": "object", "required": ["a"]}'}},
                    }
                },
            },
            {"json_schema": {"type": "object", "required": ["a"]}},
        ),
        (
            {
                "messages": [USER],
                "additionalModelRequestFields": {"top_k": 40},
                "requestMetadata": {"k": "v"},
            },
            {"extra": {"top_k": 40}},
        ),
    ],
)
def test_converse_body_to_chat_request(body: dict[str, Any], fields: dict[str, Any]):
    request = chat_request_from_converse("fake.echo-v1:0", body, request_id="rid", timeout_s=3.0)
    assert request.model_id == "fake.echo-v1:0"
    assert (request.request_id, request.timeout_s) == ("rid", 3.0)
    for name, value in fields.items():
        assert getattr(request, name) == value, name


def test_tool_spec_description_defaults_to_empty():
    spec = {"name": "w", "inputSchema": {"json": {}}}
    request = chat_request_from_converse(
        "m", {"messages": [USER], "toolConfig": {"tools": [{"toolSpec": spec}]}}
    )
    assert request.tools == [ToolSpec("w", "", {})]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"promptVariables": {"x": {"text": "y"}}}, "prompt management ARN"),
        ({"additionalModelRequestFields": [1, 2]}, "must be a JSON object"),
        (
            {"toolConfig": {"tools": [{"systemTool": {"name": "nova_grounding"}}]}},
            "System tool 'nova_grounding'",
        ),
    ],
)
def test_unsupported_fields_are_refused_not_ignored(body: dict[str, Any], match: str):
    with pytest.raises(ValidationException, match=match):
        chat_request_from_converse("m", {"messages": [USER], **body})


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(3, 4), {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}),
        (
            Usage(3, 4, cache_read_input_tokens=10, cache_write_input_tokens=2),
            {
                "inputTokens": 3,
                "outputTokens": 4,
                "totalTokens": 19,
                "cacheReadInputTokens": 10,
                "cacheWriteInputTokens": 2,
            },
        ),
    ],
)
def test_usage_keeps_cache_tokens_apart(usage: Usage, expected: dict[str, int]):
    assert usage_json(usage) == expected


def test_converse_response_shape():
    content = [
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Oslo"}}},
    ]
    response = ChatResponse(content, "tool_use", Usage(5, 6), latency_ms=42)
    assert converse_response(response) == {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 5, "outputTokens": 6, "totalTokens": 11},
        "metrics": {"latencyMs": 42},
    }


def test_additional_response_fields_follow_the_requested_json_pointers():
    fields = {"stop_sequence": "END", "logprobs": {"top": [1, 2]}, "a/b": 1}
    response = ChatResponse([], "stop_sequence", Usage(), additional_fields=fields)
    assert "additionalModelResponseFields" not in converse_response(response)
    selected = converse_response(response, ["/stop_sequence", "/logprobs/top", "/missing", "/a~1b"])
    assert selected["additionalModelResponseFields"] == {
        "stop_sequence": "END",
        "logprobs": {"top": [1, 2]},
        "a/b": 1,
    }
    assert select_response_fields(None, ["/x"]) is None


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (MessageStart(), ("messageStart", {"role": "assistant"})),
        (BlockStart(0), None),  # text blocks start straight with deltas
        (
            BlockStart(1, ToolUseStart("t1", "weather")),
            (
                "contentBlockStart",
                {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "weather"}}},
            ),
        ),
        (BlockDelta(0, text="Hi"), ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})),
        (
            BlockDelta(1, tool_input='{"ci'),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"ci'}}}),
        ),
        (
            BlockDelta(2, reasoning="hmm"),
            ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"reasoningContent": {"text": "hmm"}}}),
        ),
        (BlockStop(1), ("contentBlockStop", {"contentBlockIndex": 1})),
        (MessageStop("max_tokens"), ("messageStop", {"stopReason": "max_tokens"})),
        (
            Metadata(Usage(1, 2, cache_read_input_tokens=3), latency_ms=9),
            (
                "metadata",
                {
                    "usage": {
                        "inputTokens": 1,
                        "outputTokens": 2,
                        "totalTokens": 6,
                        "cacheReadInputTokens": 3,
                        "cacheWriteInputTokens": 0,
                    },
                    "metrics": {"latencyMs": 9},
                },
            ),
        ),
    ],
)
def test_stream_events(event, expected):
    assert converse_stream_event(event) == expected


def test_message_stop_carries_only_requested_fields():
    event = MessageStop("end_turn", additional_fields={"stop_sequence": None, "x": 1})
    assert converse_stream_event(event) == ("messageStop", {"stopReason": "end_turn"})
    assert converse_stream_event(event, ["/x"]) == (
        "messageStop",
        {"stopReason": "end_turn", "additionalModelResponseFields": {"x": 1}},
    )
