"""Pure translations Converse ⇄ OpenAI and the constrained tool-output parser, table-driven."""

from __future__ import annotations

import json

import pytest

from model_layer.errors import ValidationException
from model_layer.providers.openai_format import (
    Capabilities,
    StreamTranslator,
    cache_prefix,
    completion_as_chunk,
    inference_params,
    openai_tools,
    to_openai_messages,
    usage_from_openai,
)
from model_layer.providers.tool_calling import ConstrainedOutput, allowed_tools, call_schema, tool_prompt
from model_layer.types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ChatRequest,
    MessageStop,
    ToolSpec,
    ToolUseStart,
    Usage,
)

NATIVE, PLAIN = Capabilities(native_tools=True), Capabilities(native_tools=False)
USE = {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": "tent"}}}
RESULT = {"toolResult": {"toolUseId": "t1", "content": [{"json": {"price": 99}}, {"text": "in stock"}]}}


def req(messages, system=(), **kw):
    return ChatRequest(model_id="m", messages=list(messages), system=list(system), **kw)


@pytest.mark.parametrize(
    ("request_", "caps", "expected"),
    [
        (
            req([{"role": "user", "content": [{"text": "hi"}]}], [{"text": "be brief"}]),
            NATIVE,
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        ),
        (
            req(
                [
                    {
                        "role": "user",
                        "content": [{"text": "a"}, {"cachePoint": {"type": "default"}}, {"text": "b"}],
                    }
                ]
            ),
            NATIVE,
            [{"role": "user", "content": "a\nb"}],
        ),
        (
            req([{"role": "user", "content": [{"guardContent": {"text": {"text": "guarded"}}}]}], []),
            NATIVE,
            [{"role": "user", "content": "guarded"}],
        ),
        (
            req([{"role": "assistant", "content": [{"text": "let me look"}, USE]}]),
            NATIVE,
            [
                {
                    "role": "assistant",
                    "content": "let me look",
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q": "tent"}'},
                        }
                    ],
                }
            ],
        ),
        (
            req([{"role": "user", "content": [RESULT]}]),
            NATIVE,
            [{"role": "tool", "tool_call_id": "t1", "content": '{"price": 99}\nin stock'}],
        ),
        (
            req([{"role": "assistant", "content": [USE]}]),
            PLAIN,
            [{"role": "assistant", "content": '{"name": "lookup", "input": {"q": "tent"}}'}],
        ),
        (
            req([{"role": "user", "content": [RESULT]}]),
            PLAIN,
            [{"role": "user", "content": 'Result of tool call t1: {"price": 99}\nin stock'}],
        ),
        (
            req(
                [
                    {
                        "role": "user",
                        "content": [
                            {"document": {"format": "md", "name": "faq", "source": {"text": "# FAQ"}}}
                        ],
                    }
                ]
            ),
            NATIVE,
            [{"role": "user", "content": "Document faq:\n# FAQ"}],
        ),
        (
            req(
                [
                    {
                        "role": "user",
                        "content": [
                            {"document": {"format": "txt", "name": "n", "source": {"bytes": "aGk="}}}
                        ],
                    }
                ]
            ),
            NATIVE,
            [{"role": "user", "content": "Document n:\nhi"}],
        ),
        (
            req([{"role": "user", "content": [{"text": "x"}]}], [{"text": "sys"}]),
            NATIVE,
            [{"role": "system", "content": "sys"}, {"role": "user", "content": "x"}],
        ),
    ],
)
def test_to_openai_messages(request_, caps, expected):
    assert to_openai_messages(request_, caps) == expected


def test_tool_prompt_goes_before_the_system_text():
    out = to_openai_messages(
        req([{"role": "user", "content": [{"text": "x"}]}], [{"text": "sys"}]), PLAIN, system_prefix="TOOLS"
    )
    assert out[0] == {"role": "system", "content": "TOOLS\n\nsys"}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"image": {"format": "png", "source": {"bytes": "iVBO"}}}, "does not support images"),
        ({"video": {"format": "mp4", "source": {"bytes": "AA"}}}, "does not support video"),
        (
            {"document": {"format": "pdf", "name": "x", "source": {"bytes": "AA"}}},
            "does not support pdf documents",
        ),
    ],
)
def test_unsupported_content_is_a_validation_error(block, message):
    with pytest.raises(ValidationException, match=message):
        to_openai_messages(req([{"role": "user", "content": [block]}]), PLAIN)


def test_images_become_data_urls_when_the_model_accepts_them():
    block = {"image": {"format": "png", "source": {"bytes": "iVBO"}}}
    out = to_openai_messages(
        req([{"role": "user", "content": [{"text": "what?"}, block]}]), Capabilities(images=True)
    )
    assert out[0]["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}


def test_cache_prefix_cuts_after_the_last_cache_point():
    cp = {"cachePoint": {"type": "default"}}
    r = req(
        [
            {"role": "user", "content": [{"text": "doc"}, cp, {"text": "q"}]},
            {"role": "assistant", "content": [{"text": "a"}]},
        ],
        [{"text": "s"}],
    )
    prefix = cache_prefix(r)
    assert prefix.messages == [{"role": "user", "content": [{"text": "doc"}]}]
    assert prefix.system == [{"text": "s"}]
    system_only = cache_prefix(req([{"role": "user", "content": [{"text": "q"}]}], [{"text": "s"}, cp]))
    assert system_only.system == [{"text": "s"}] and system_only.messages == []
    assert cache_prefix(req([{"role": "user", "content": [{"text": "q"}]}])) is None


@pytest.mark.parametrize(
    ("usage", "prefix", "expected"),
    [
        (None, None, Usage()),
        ({"prompt_tokens": 100, "completion_tokens": 7}, None, Usage(100, 7, 0, 0)),
        # no cachePoint: the engine's reuse is not reported as a cache read (Bedrock's way)
        (
            {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 90}},
            None,
            Usage(100, 7, 0, 0, engine_cached_tokens=90),
        ),
        (
            {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 0}},
            80,
            Usage(20, 7, 0, 80),
        ),
        (
            {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 85}},
            80,
            Usage(15, 7, 85, 0, engine_cached_tokens=85),
        ),
        (
            {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 50}},
            80,
            Usage(20, 7, 50, 30, engine_cached_tokens=50),
        ),
        # a cachePoint whose prefix size the provider cannot count (remote upstreams)
        (
            {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 60}},
            0,
            Usage(40, 7, 60, 0, engine_cached_tokens=60),
        ),
    ],
)
def test_usage_from_openai(usage, prefix, expected):
    assert usage_from_openai(usage, prefix) == expected


def test_inference_params_and_unknown_extra_fields():
    r = req([], max_tokens=5, temperature=0.2, top_p=0.9, stop_sequences=["END"], extra={"top_k": 4})
    assert inference_params(r) == {
        "max_tokens": 5,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
        "top_k": 4,
    }
    assert inference_params(req([]), 64) == {"max_tokens": 64}
    with pytest.raises(ValidationException, match=r"additionalModelRequestFields\.reasoning"):
        inference_params(req([], extra={"reasoning": True}))


def test_openai_tools_and_choice():
    tools = [ToolSpec("a", "does a", {"type": "object"})]
    assert openai_tools(tools, {"any": {}})["tool_choice"] == "required"
    assert openai_tools(tools, {"tool": {"name": "a"}})["tool_choice"]["function"] == {"name": "a"}
    assert "tool_choice" not in openai_tools(tools, {"auto": {}})
    assert openai_tools([], None) == {}


def test_stream_translator_text_then_tool_calls():
    t = StreamTranslator()
    events = []
    chunks = [
        {"choices": [{"delta": {"role": "assistant", "content": "Let me "}}]},
        {"choices": [{"delta": {"content": "check."}}]},
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "call_1", "function": {"name": "lookup", "arguments": ""}}
                        ]
                    }
                }
            ]
        },
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"q": '}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"tent"}'}}]}}]},
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    ]
    for chunk in chunks:
        events += t.feed(chunk)
    events += t.finish()
    assert events == [
        BlockDelta(0, text="Let me "),
        BlockDelta(0, text="check."),
        BlockStop(0),
        BlockStart(1, ToolUseStart("call_1", "lookup")),
        BlockDelta(1, tool_input='{"q": '),
        BlockDelta(1, tool_input='"tent"}'),
        BlockStop(1),
        MessageStop("tool_use"),
    ]
    assert t.usage == {"prompt_tokens": 3, "completion_tokens": 4}


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "content_filtered")],
)
def test_non_streamed_completion_goes_through_the_same_translator(finish, stop):
    completion = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }
    t = StreamTranslator()
    assert t.feed(completion_as_chunk(completion)) + t.finish() == [
        BlockDelta(0, text="Hi"),
        BlockStop(0),
        MessageStop(stop),
    ]


TOOLS = [
    ToolSpec("get_weather", "weather", {"type": "object", "properties": {"city": {"type": "string"}}}),
    ToolSpec("search", "", {"type": "object"}),
]


def test_call_schema_branches_per_tool_and_answer():
    schema = call_schema(TOOLS, may_answer=True)
    branches = schema["anyOf"]
    assert branches[0]["properties"] == {"answer": {"type": "string"}}
    assert branches[1]["properties"]["name"] == {"const": "get_weather"}
    assert branches[1]["properties"]["input"] == TOOLS[0].input_schema
    assert call_schema(TOOLS[:1], may_answer=False)["properties"]["name"] == {"const": "get_weather"}


@pytest.mark.parametrize(
    ("choice", "names", "may_answer"),
    [
        (None, ["get_weather", "search"], True),
        ({"auto": {}}, ["get_weather", "search"], True),
        ({"any": {}}, ["get_weather", "search"], False),
        ({"tool": {"name": "search"}}, ["search"], False),
    ],
)
def test_allowed_tools(choice, names, may_answer):
    tools, answer = allowed_tools(req([], tools=TOOLS, tool_choice=choice))
    assert [t.name for t in tools] == names and answer is may_answer
    assert ("answer" in tool_prompt(tools, answer)) is may_answer


def test_tool_choice_naming_an_unknown_tool():
    with pytest.raises(ValidationException, match="'nope'"):
        allowed_tools(req([], tools=TOOLS, tool_choice={"tool": {"name": "nope"}}))


def _run(parser, pieces, finish="stop"):
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.finish(finish)


def test_constrained_answer_streams_decoded_text_across_split_escapes():
    pieces = ['{ "ans', 'wer": "Hello', ' \\"world', "\\", "n\\u00", 'e9!"', "}"]
    events = _run(ConstrainedOutput(), pieces)
    text = "".join(e.text for e in events if isinstance(e, BlockDelta))
    assert text == 'Hello "world\né!'
    assert len([e for e in events if isinstance(e, BlockDelta)]) >= 3  # streamed, not buffered
    assert events[-2:] == [BlockStop(0), MessageStop("end_turn")]


def test_constrained_tool_call_becomes_a_tool_use_block():
    raw = json.dumps({"name": "get_weather", "input": {"city": "Paris"}})
    events = _run(ConstrainedOutput(), [raw[:7], raw[7:20], raw[20:]])
    start, delta, stop, message_stop = events
    assert start.tool_use.name == "get_weather" and start.tool_use.tool_use_id.startswith("tooluse_")
    assert json.loads(delta.tool_input) == {"city": "Paris"}
    assert (stop, message_stop) == (BlockStop(0), MessageStop("tool_use"))


def test_constrained_output_cut_short():
    assert _run(ConstrainedOutput(), ['{"name": "get_w'], finish="length") == [MessageStop("max_tokens")]
    assert _run(ConstrainedOutput(), ['{"name": "get_w'], finish="stop") == [
        MessageStop("malformed_tool_use")
    ]


def test_json_answer_with_tools_is_emitted_whole():
    events = _run(ConstrainedOutput(stream_answer=False), ['{"answer": {"a": 1}}'])
    assert events == [BlockDelta(0, text='{"a": 1}'), BlockStop(0), MessageStop("end_turn")]
