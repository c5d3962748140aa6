"""InvokeModel body families: native request → ChatRequest, response and stream chunks, errors."""

from __future__ import annotations

import json
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
    ModelInfo,
    ToolSpec,
    ToolUseStart,
    Usage,
)
from model_layer.wire.invoke import (
    FAMILIES,
    check_media_types,
    family_for,
    parse_native_body,
)
from model_layer.wire.invoke_chat import llama_turns


def model(native_format: str = "converse", kind: str = "chat", model_id: str = "fake.m-v1:0") -> ModelInfo:
    return ModelInfo(
        model_id=model_id, name=model_id, provider_name="fake", kind=kind, native_format=native_format
    )


def parse(family: str, body: Any) -> dict[str, Any]:
    return parse_native_body(json.dumps(body).encode(), FAMILIES[family])


def stream(family: str, events: list) -> list[dict[str, Any]]:
    translator = FAMILIES[family].stream(model(family))
    return [chunk for event in events for chunk in translator.translate(event)]


TEXT_EVENTS = [
    MessageStart(),
    BlockDelta(0, text="Hello"),
    BlockDelta(0, text=" there"),
    BlockStop(0),
    MessageStop("end_turn"),
    Metadata(Usage(3, 2), latency_ms=5),
]
TOOL_EVENTS = [
    MessageStart(),
    BlockStart(0, ToolUseStart("t1", "weather")),
    BlockDelta(0, tool_input='{"city":'),
    BlockDelta(0, tool_input=' "Oslo"}'),
    BlockStop(0),
    MessageStop("tool_use"),
    Metadata(Usage(3, 4)),
]


# --- which family -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("native_format", "kind", "family"),
    [
        ("converse", "chat", "converse"),
        ("anthropic", "chat", "anthropic"),
        ("titan-text", "chat", "titan-text"),
        ("meta", "chat", "llama"),
        ("openai", "chat", "openai"),
        ("titan_embed", "embedding", "titan-embed"),
        ("cohere-embed", "embedding", "cohere-embed"),
        ("converse", "embedding", "titan-embed"),  # an embedding model left at the default
    ],
)
def test_family_for(native_format: str, kind: str, family: str):
    assert family_for(model(native_format, kind)).name == family


@pytest.mark.parametrize(("native_format", "kind"), [("anthropic", "embedding"), ("mystery", "chat")])
def test_family_for_refuses_mismatches(native_format: str, kind: str):
    with pytest.raises(ValidationException, match="does not support InvokeModel"):
        family_for(model(native_format, kind))


def test_media_types():
    check_media_types("application/json", "*/*")
    check_media_types(None, "application/json; charset=utf-8")
    with pytest.raises(ValidationException, match="Content-Type 'text/plain' is not supported"):
        check_media_types("text/plain", None)


# --- native body errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "body", "message"),
    [
        (
            "anthropic",
            {"messages": [{"role": "user", "content": "hi"}]},
            "Malformed input request: #: required key [anthropic_version, max_tokens] not found, "
            "please reformat your input and try again.",
        ),
        (
            "anthropic",
            {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": [], "foo": 1},
            "#: extraneous key [foo] is not permitted",
        ),
        (
            "anthropic",
            {
                "anthropic_version": "v",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text"}]}],
            },
            "#/messages/0/content",
        ),
        (
            "anthropic",
            {
                "anthropic_version": "v",
                "max_tokens": 5,
                "temperature": 3,
                "messages": [{"role": "user", "content": "x"}],
            },
            "#/temperature: 3 is greater than the maximum of 1",
        ),
        ("titan-text", {"inputText": ""}, "#/inputText"),
        ("titan-text", {"inputText": "x", "textGenerationConfig": {"topK": 1}}, "extraneous key [topK]"),
        ("llama", {"max_gen_len": 5}, "required key [prompt] not found"),
        ("titan-embed", {"inputText": "x", "dimensions": "big"}, "#/dimensions"),
        ("cohere-embed", {"texts": ["a"]}, "required key [input_type] not found"),
        ("cohere-embed", {"texts": ["a"] * 97, "input_type": "search_query"}, "#/texts"),
        ("converse", {"messages": [], "inferenceConfig": {"max_tokens": 5}}, "extraneous key [max_tokens]"),
    ],
)
def test_native_body_errors(family: str, body: dict[str, Any], message: str):
    with pytest.raises(ValidationException) as info:
        parse(family, body)
    assert message in info.value.message


@pytest.mark.parametrize("raw", [b"", b"[1]", b'"text"'])
def test_native_body_must_be_a_json_object(raw: bytes):
    with pytest.raises(ValidationException, match="Malformed input request: the body must be a JSON object"):
        parse_native_body(raw, FAMILIES["anthropic"])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "not valid JSON"),
        (b'{"max_tokens": NaN}', "NaN is not a valid JSON value"),
        (b'{"temperature": 1e400}', "out of range"),
        (b'{"prompt": "hi \\ud800"}', "lone UTF-16 surrogate"),
        (b'{"prompt": "\xff"}', "not valid UTF-8"),
    ],
)
def test_native_body_is_parsed_strictly(raw: bytes, reason: str):
    with pytest.raises(ValidationException, match="Malformed input request: .*" + reason) as info:
        parse_native_body(raw, FAMILIES["anthropic"])
    assert info.value.message.endswith("please reformat your input and try again.")


# --- Anthropic --------------------------------------------------------------------------------

ANTHROPIC = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 100,
    "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Oslo"}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "3C", "is_error": False},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}},
            ],
        },
    ],
    "tools": [{"name": "weather", "description": "now", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any"},
    "temperature": 0.1,
    "top_k": 5,
    "stop_sequences": ["\n\nHuman:"],
}


def test_anthropic_request():
    request = FAMILIES["anthropic"].to_request("m", parse("anthropic", ANTHROPIC))
    assert request.system == [{"text": "be brief"}, {"cachePoint": {"type": "default"}}]
    assert request.messages == [
        {"role": "user", "content": [{"text": "Weather in Oslo?"}]},
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Oslo"}}}],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"text": "3C"}], "status": "success"}},
                {"image": {"format": "png", "source": {"bytes": "aGk="}}},
            ],
        },
    ]
    assert request.tools == [ToolSpec("weather", "now", {"type": "object"})]
    assert request.tool_choice == {"any": {}}
    assert (request.max_tokens, request.temperature, request.stop_sequences) == (100, 0.1, ["\n\nHuman:"])
    assert request.extra == {"top_k": 5}


def test_anthropic_tool_choice_none_offers_no_tools():
    body = {**ANTHROPIC, "tool_choice": {"type": "none"}}
    request = FAMILIES["anthropic"].to_request("m", parse("anthropic", body))
    assert (request.tools, request.tool_choice) == ([], None)


def test_anthropic_response():
    content = [
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Oslo"}}},
    ]
    response = ChatResponse(content, "tool_use", Usage(10, 5, cache_read_input_tokens=4))
    out = FAMILIES["anthropic"].to_response(model("anthropic"), response)
    assert out["id"].startswith("msg_bdrk_")
    assert {k: out[k] for k in ("type", "role", "model", "stop_reason", "stop_sequence")} == {
        "type": "message",
        "role": "assistant",
        "model": "fake.m-v1:0",
        "stop_reason": "tool_use",
        "stop_sequence": None,
    }
    assert out["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Oslo"}},
    ]
    assert out["usage"] == {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 4,
    }


def test_anthropic_text_stream():
    chunks = stream("anthropic", TEXT_EVENTS)
    assert [c["type"] for c in chunks] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert chunks[1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert chunks[3]["delta"] == {"type": "text_delta", "text": " there"}
    assert chunks[5] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 2},
    }


def test_anthropic_tool_stream():
    chunks = stream("anthropic", TOOL_EVENTS)
    assert chunks[1]["content_block"] == {"type": "tool_use", "id": "t1", "name": "weather", "input": {}}
    partial = "".join(c["delta"]["partial_json"] for c in chunks if c["type"] == "content_block_delta")
    assert json.loads(partial) == {"city": "Oslo"}
    assert chunks[-2]["delta"]["stop_reason"] == "tool_use"


# --- Titan text, Llama, Nova ------------------------------------------------------------------


def test_titan_text_round_trip():
    body = parse(
        "titan-text",
        {"inputText": "User: hi\nBot:", "textGenerationConfig": {"maxTokenCount": 9, "topP": 0.5}},
    )
    request = FAMILIES["titan-text"].to_request("m", body)
    assert request.messages == [{"role": "user", "content": [{"text": "User: hi\nBot:"}]}]
    assert (request.max_tokens, request.top_p) == (9, 0.5)
    response = ChatResponse([{"text": "Hello"}], "max_tokens", Usage(4, 9))
    assert FAMILIES["titan-text"].to_response(model(), response) == {
        "inputTextTokenCount": 4,
        "results": [{"tokenCount": 9, "outputText": "Hello", "completionReason": "LENGTH"}],
    }


def test_titan_text_stream():
    chunks = stream("titan-text", TEXT_EVENTS)
    assert [c["outputText"] for c in chunks] == ["Hello", " there", ""]
    assert chunks[-1] == {
        "outputText": "",
        "index": 0,
        "totalOutputTextTokenCount": 2,
        "completionReason": "FINISH",
        "inputTextTokenCount": 3,
    }


LLAMA3 = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nWeather?<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def test_llama3_prompts_are_split_into_turns():
    system, messages = llama_turns(LLAMA3)
    assert system == [{"text": "Be kind."}]
    assert [(m["role"], m["content"][0]["text"]) for m in messages] == [
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "Weather?"),
    ]
    assert llama_turns("just text") == ([], [{"role": "user", "content": [{"text": "just text"}]}])


@pytest.mark.parametrize(
    ("prompt", "system", "turns"),
    [
        # langchain's ChatBedrock for Llama 2 ids
        ("<<SYS>> Be kind. <</SYS>>\n[INST] Hi [/INST]", ["Be kind."], [("user", ["Hi"])]),
        (
            "<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Weather? [/INST]",
            ["Be kind."],
            [("user", ["Hi"]), ("assistant", ["Hello!"]), ("user", ["Weather?"])],
        ),
        ("[INST] a [/INST]\n[INST] b [/INST]", [], [("user", ["a", "b"])]),  # same role merged
    ],
)
def test_llama2_prompts_are_split_into_turns(prompt: str, system: list[str], turns: list):
    got_system, messages = llama_turns(prompt)
    assert [b["text"] for b in got_system] == system
    assert [(m["role"], [b["text"] for b in m["content"]]) for m in messages] == turns


def test_llama_prompt_must_start_with_a_user_turn():
    with pytest.raises(ValidationException, match="no user turn first"):
        llama_turns("<|start_header_id|>assistant<|end_header_id|>\n\nhi<|eot_id|>")


def test_llama_round_trip_and_stream():
    request = FAMILIES["llama"].to_request(
        "m", parse("llama", {"prompt": LLAMA3, "max_gen_len": 20, "temperature": 0})
    )
    assert (request.max_tokens, request.temperature, len(request.messages)) == (20, 0, 3)
    response = ChatResponse([{"text": "Sunny"}], "end_turn", Usage(7, 1))
    assert FAMILIES["llama"].to_response(model(), response) == {
        "generation": "Sunny",
        "prompt_token_count": 7,
        "generation_token_count": 1,
        "stop_reason": "stop",
    }
    chunks = stream("llama", TEXT_EVENTS)
    assert [c["generation"] for c in chunks] == ["Hello", " there", ""]
    assert chunks[-1]["stop_reason"] == "stop"
    assert chunks[-1]["prompt_token_count"] == 3


def test_nova_round_trip_and_stream():
    body = {
        "schemaVersion": "messages-v1",
        "system": [{"text": "brief"}],
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"max_new_tokens": 12, "top_p": 0.3, "top_k": 4},
    }
    request = FAMILIES["converse"].to_request("fake.m-v1:0", parse("converse", body))
    assert (request.max_tokens, request.top_p, request.extra) == (12, 0.3, {"top_k": 4})
    assert request.system == [{"text": "brief"}]
    response = ChatResponse([{"text": "yo"}], "end_turn", Usage(2, 1))
    assert FAMILIES["converse"].to_response(model(), response) == {
        "output": {"message": {"role": "assistant", "content": [{"text": "yo"}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": 2,
            "outputTokens": 1,
            "totalTokens": 3,
            "cacheReadInputTokenCount": 0,
            "cacheWriteInputTokenCount": 0,
        },
    }
    chunks = stream("converse", TEXT_EVENTS)
    assert [next(iter(c)) for c in chunks] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]


def test_nova_messages_follow_converse_rules():
    with pytest.raises(ValidationException, match="must start with a user message"):
        FAMILIES["converse"].to_request("fake.m-v1:0", parse("converse", {"messages": []}))


def test_openai_round_trip_and_stream():
    body = parse(
        "openai", {"messages": [{"role": "system", "content": "brief"}, {"role": "user", "content": "hi"}]}
    )
    request = FAMILIES["openai"].to_request(
        "openai.m-v1:0", {**body, "model": "ignored", "max_completion_tokens": 5}
    )
    assert (request.model_id, request.max_tokens) == ("openai.m-v1:0", 5)
    assert request.system == [{"text": "brief"}]
    assert request.messages == [{"role": "user", "content": [{"text": "hi"}]}]
    out = FAMILIES["openai"].to_response(
        model("openai"), ChatResponse([{"text": "yo"}], "max_tokens", Usage(2, 1))
    )
    assert out["object"] == "chat.completion"
    assert out["choices"][0]["message"]["content"] == "yo"
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["usage"]["prompt_tokens"] == 2
    chunks = stream("openai", TEXT_EVENTS)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello there"
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 2


def test_openai_body_errors():
    with pytest.raises(ValidationException, match="required key \\[messages\\]"):
        parse("openai", {"prompt": "hi"})
    with pytest.raises(ValidationException, match="Malformed input request: #/temperature"):
        FAMILIES["openai"].to_request("m", {"messages": [{"role": "user", "content": "x"}], "temperature": 9})
