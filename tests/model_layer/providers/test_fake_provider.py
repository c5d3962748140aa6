"""The fake provider is deterministic: echo, tool calls from schemas, JSON answers, hashed vectors."""

from __future__ import annotations

import json
import math

from model_layer.providers.fake import FakeProvider, FakeProviderConfig, example_from_schema, hashed_vector
from model_layer.types import ChatRequest, ToolSpec, collect
from tests.model_layer.providers.provider_helpers import chat, run

FAKE = FakeProviderConfig(name="f", type="fake")
LOOKUP = ToolSpec(
    "lookup",
    "find",
    {
        "type": "object",
        "properties": {"q": {"type": "string"}, "n": {"type": "integer"}, "kind": {"enum": ["a", "b"]}},
        "required": ["q", "n", "kind"],
    },
)


def test_tool_call_input_is_built_from_the_schema():
    response = run(collect(FakeProvider(FAKE).converse_stream(chat("m", "two words", tools=[LOOKUP]))))
    assert response.stop_reason == "tool_use"
    assert response.content[0]["toolUse"]["input"] == {"q": "two words", "n": 2, "kind": "a"}


def test_after_a_tool_result_it_answers_in_text():
    request = ChatRequest(
        model_id="m",
        tools=[LOOKUP],
        messages=[
            {"role": "user", "content": [{"text": "find"}]},
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "t", "name": "lookup", "input": {}}}],
            },
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "42"}]}}]},
        ],
    )
    response = run(collect(FakeProvider(FAKE).converse_stream(request)))
    assert response.stop_reason == "end_turn" and response.text == "You said: find"


def test_json_schema_answer_and_max_tokens():
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}, "tags": {"type": "array"}}}
    response = run(collect(FakeProvider(FAKE).converse_stream(chat("m", "x", json_schema=schema))))
    assert json.loads(response.text) == {"ok": True, "tags": ["x"]}
    cut = run(collect(FakeProvider(FAKE).converse_stream(chat("m", "a b c d", max_tokens=2))))
    assert cut.text == "You said:" and cut.stop_reason == "max_tokens"


def test_hashed_vectors_are_stable_unit_vectors():
    a, b = hashed_vector("tent", 64), hashed_vector("tent", 64)
    assert a == b and a != hashed_vector("boots", 64)
    assert math.isclose(sum(v * v for v in a), 1.0)
    assert example_from_schema({"anyOf": [{"type": "number"}, {"type": "string"}]}, "a b") == 2.0
