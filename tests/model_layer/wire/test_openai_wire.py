"""Table-driven tests of the pure OpenAI ⇄ gateway translations (no server)."""

from __future__ import annotations

import base64
import struct
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
    ToolUseStart,
    Usage,
)
from model_layer.wire.openai import (
    FINISH_REASONS,
    ChatCompletionRequest,
    ChunkTranslator,
    chat_request_from_openai,
    completion_from_response,
    embeddings_body,
    openai_usage,
)

PNG = base64.b64encode(b"\x89PNG fake bytes").decode()


def translate(**body: Any):
    body.setdefault("model", "fake.echo-v1:0")
    return chat_request_from_openai(ChatCompletionRequest.model_validate(body), "rid-1")


def call(id_: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}


MESSAGE_CASES = [
    pytest.param(
        [{"role": "user", "content": "hi"}],
        [],
        [{"role": "user", "content": [{"text": "hi"}]}],
        id="plain-user",
    ),
    pytest.param(
        [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "no jokes"}]},
            {"role": "user", "content": "hi"},
        ],
        [{"text": "be brief"}, {"text": "no jokes"}],
        [{"role": "user", "content": [{"text": "hi"}]}],
        id="system-and-developer-become-system-blocks",
    ),
    pytest.param(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
        [],
        [
            {
                "role": "user",
                "content": [
                    {"text": "see"},
                    {"image": {"format": "png", "source": {"bytes": b"\x89PNG fake bytes"}}},
                ],
            }
        ],
        id="data-url-image",
    ),
    pytest.param(
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("c1", "get_weather", '{"city": "Oslo"}'), call("c2", "get_time", "")],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "rain"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "noon"}]},
        ],
        [],
        [
            {"role": "user", "content": [{"text": "weather?"}]},
            {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "c1", "name": "get_weather", "input": {"city": "Oslo"}}},
                    {"toolUse": {"toolUseId": "c2", "name": "get_time", "input": {}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "c1", "content": [{"text": "rain"}], "status": "success"}},
                    {"toolResult": {"toolUseId": "c2", "content": [{"text": "noon"}], "status": "success"}},
                ],
            },
        ],
        id="tool-round-trip-merges-parallel-results",
    ),
    pytest.param(
        [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        [],
        [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}],
        id="consecutive-user-turns-merge",
    ),
]


@pytest.mark.parametrize(("messages", "system", "converse"), MESSAGE_CASES)
def test_messages_translate_to_converse(messages, system, converse):
    request = translate(messages=messages)
    assert request.system == system
    assert request.messages == converse
    assert request.request_id == "rid-1"


OPTION_CASES = [
    pytest.param({"max_tokens": 5}, {"max_tokens": 5}, id="max_tokens"),
    pytest.param(
        {"max_tokens": 5, "max_completion_tokens": 7}, {"max_tokens": 7}, id="max_completion_tokens-wins"
    ),
    pytest.param({"temperature": 1.5, "top_p": 0.5}, {"temperature": 1.5, "top_p": 0.5}, id="sampling"),
    pytest.param({"stop": "END"}, {"stop_sequences": ["END"]}, id="stop-string"),
    pytest.param({"stop": ["a", "b"]}, {"stop_sequences": ["a", "b"]}, id="stop-list"),
    pytest.param(
        {"seed": 7, "presence_penalty": 0.5},
        {"extra": {"seed": 7, "presence_penalty": 0.5}},
        id="pass-through",
    ),
    pytest.param(
        {"response_format": {"type": "json_object"}}, {"json_schema": {"type": "object"}}, id="json-object"
    ),
    pytest.param(
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "x",
                    "schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
                },
            }
        },
        {"json_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        id="json-schema",
    ),
    pytest.param({"response_format": {"type": "text"}}, {"json_schema": None}, id="text-format"),
]


@pytest.mark.parametrize(("options", "expected"), OPTION_CASES)
def test_options_translate(options, expected):
    request = translate(messages=[{"role": "user", "content": "x"}], **options)
    for field, value in expected.items():
        assert getattr(request, field) == value


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time"}}

TOOL_CASES = [
    pytest.param(None, ["get_weather", "get_time"], {"auto": {}}, id="default-auto"),
    pytest.param("auto", ["get_weather", "get_time"], {"auto": {}}, id="auto"),
    pytest.param("required", ["get_weather", "get_time"], {"any": {}}, id="required-is-any"),
    pytest.param(
        {"type": "function", "function": {"name": "get_time"}},
        ["get_weather", "get_time"],
        {"tool": {"name": "get_time"}},
        id="named",
    ),
    pytest.param("none", [], None, id="none-offers-no-tools"),
]


@pytest.mark.parametrize(("choice", "names", "converse_choice"), TOOL_CASES)
def test_tools_and_tool_choice(choice, names, converse_choice):
    request = translate(
        messages=[{"role": "user", "content": "x"}], tools=[WEATHER, CLOCK], tool_choice=choice
    )
    assert [t.name for t in request.tools] == names
    assert request.tool_choice == converse_choice
    if names:
        assert request.tools[0].input_schema["properties"] == {"city": {"type": "string"}}
        assert request.tools[1].input_schema == {"type": "object", "properties": {}}
        assert request.tools[1].description == "get_time"  # Converse wants a description


INVALID_CASES = [
    pytest.param(
        {"messages": [{"role": "system", "content": "only system"}]},
        "at least one user message",
        id="no-turns",
    ),
    pytest.param({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id", id="tool-without-id"),
    pytest.param(
        {"messages": [{"role": "assistant", "content": None}]}, "content or tool_calls", id="empty-assistant"
    ),
    pytest.param(
        {"messages": [{"role": "assistant", "tool_calls": [call("c", "f", "{bad")]}]},
        "not valid JSON",
        id="bad-arguments",
    ),
    pytest.param(
        {"messages": [{"role": "assistant", "tool_calls": [call("c", "f", "[1]")]}]},
        "JSON object",
        id="array-arguments",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
            ]
        },
        "data: URL",
        id="remote-image",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AA=="}}],
                }
            ]
        },
        "unsupported image type",
        id="bmp",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
        "unsupported content part",
        id="audio",
    ),
    pytest.param({"messages": [{"role": "user", "content": None}]}, "need content", id="null-user"),
    pytest.param({"tool_choice": "required"}, "needs tools", id="choice-without-tools"),
    pytest.param(
        {"tools": [CLOCK], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
        "unknown function",
        id="unknown-named-tool",
    ),
    pytest.param({"tools": [CLOCK], "tool_choice": "sometimes"}, "tool_choice must be", id="bad-choice"),
    pytest.param({"tools": [CLOCK, CLOCK]}, "unique", id="duplicate-tools"),
    pytest.param({"stop": ["a", "b", "c", "d", "e"]}, "up to 4", id="too-many-stops"),
    pytest.param({"stop": [""]}, "non-empty", id="empty-stop"),
    pytest.param(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
        "schema must be an object",
        id="schema-missing",
    ),
    pytest.param({"response_format": {"type": "yaml"}}, "unsupported response_format", id="yaml"),
]


@pytest.mark.parametrize(("body", "message"), INVALID_CASES)
def test_invalid_requests_raise_validation(body, message):
    body.setdefault("messages", [{"role": "user", "content": "x"}])
    with pytest.raises(ValidationException, match=message):
        translate(**body)


def test_finish_reasons_cover_every_stop_reason():
    from typing import get_args

    from model_layer.types import StopReason

    assert set(FINISH_REASONS) == set(get_args(StopReason))
    assert set(FINISH_REASONS.values()) <= {"stop", "length", "tool_calls", "content_filter"}


def test_usage_counts_cached_tokens_inside_prompt_tokens():
    usage = Usage(input_tokens=10, output_tokens=5, cache_read_input_tokens=30, cache_write_input_tokens=2)
    assert openai_usage(usage) == {
        "prompt_tokens": 42,
        "completion_tokens": 5,
        "total_tokens": 47,
        "prompt_tokens_details": {"cached_tokens": 30},
    }


@pytest.mark.parametrize(
    ("content", "stop", "message", "finish"),
    [
        ([{"text": "Hello"}], "end_turn", {"role": "assistant", "content": "Hello", "refusal": None}, "stop"),
        ([{"text": "Hel"}], "max_tokens", {"role": "assistant", "content": "Hel", "refusal": None}, "length"),
        (
            [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}],
            "tool_use",
            {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
                ],
            },
            "tool_calls",
        ),
        (
            [{"reasoningContent": {"reasoningText": {"text": "hmm"}}}, {"text": "ok"}],
            "end_turn",
            {"role": "assistant", "content": "ok", "refusal": None, "reasoning_content": "hmm"},
            "stop",
        ),
        (
            [{"text": "blocked"}],
            "guardrail_intervened",
            {"role": "assistant", "content": "blocked", "refusal": None},
            "content_filter",
        ),
    ],
)
def test_completion_from_response(content, stop, message, finish):
    response = ChatResponse(content, stop, Usage(3, 4))
    body = completion_from_response(response, model="m", completion_id="chatcmpl-1", created=5)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == message
    assert body["choices"][0]["finish_reason"] == finish
    assert body["usage"]["total_tokens"] == 7


def test_chunk_translator_numbers_tool_calls_and_sends_usage_last():
    t = ChunkTranslator(model="m", completion_id="c", created=1, include_usage=True)
    events = [
        MessageStart(),
        BlockDelta(0, text="Let me check."),
        BlockStop(0),
        BlockStart(1, ToolUseStart("t1", "get_weather")),
        BlockDelta(1, tool_input='{"city":'),
        BlockDelta(1, tool_input='"Oslo"}'),
        BlockStop(1),
        BlockStart(2, ToolUseStart("t2", "get_time")),
        BlockDelta(2, tool_input="{}"),
        MessageStop("tool_use"),
        Metadata(Usage(2, 9, cache_read_input_tokens=1)),
    ]
    chunks = [c for e in events for c in t.translate(e)]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert t.first()["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert deltas == [
        {"content": "Let me check."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]},
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "t2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 1}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


def test_chunk_translator_without_usage_drops_metadata():
    t = ChunkTranslator(model="m", completion_id="c", created=1)
    assert t.translate(Metadata(Usage(1, 1))) == []


def test_embeddings_float_and_base64():
    vectors = [[0.5, -1.0], [0.25, 2.0]]
    floats = embeddings_body(vectors, model="e", input_tokens=3)
    assert [d["embedding"] for d in floats["data"]] == vectors
    assert floats["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    b64 = embeddings_body(vectors, model="e", input_tokens=3, encoding_format="base64")
    decoded = [list(struct.unpack("<2f", base64.b64decode(d["embedding"]))) for d in b64["data"]]
    assert decoded == vectors
    assert [d["index"] for d in b64["data"]] == [0, 1]
