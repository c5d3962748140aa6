"""The botocore-model validator and Bedrock's extra Converse rules, table by table."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from model_layer.errors import ValidationException
from model_layer.types import ModelInfo
from model_layer.wire.validate import (
    bind_params,
    check_converse,
    check_max_tokens,
    parse_json_body,
    validate_input,
)

MODEL = "fake.echo-v1:0"


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks) or [{"text": "hi"}]}


def assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks) or [{"text": "hello"}]}


TOOLS = {"tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": {"type": "object"}}}}]}


def converse_error(body: dict[str, Any], model_id: str = MODEL) -> str:
    with pytest.raises(ValidationException) as info:
        validate_input("bedrock-runtime", "Converse", body, {"modelId": model_id})
        check_converse(body)
    return info.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"messages": [user()], "inferenceConfig": {"temperature": 5}},
            "1 validation error detected: Value '5' at 'inferenceConfig.temperature' failed to satisfy "
            "constraint: Member must have value less than or equal to 1",
        ),
        (  # NaN passes every comparison: a body that got one past the parser is still refused
            {"messages": [user()], "inferenceConfig": {"temperature": float("nan"), "topP": float("inf")}},
            "2 validation errors detected: Value 'NaN' at 'inferenceConfig.temperature' failed to "
            "satisfy constraint: Member must be a finite number; Value 'Infinity' at "
            "'inferenceConfig.topP' failed to satisfy constraint: Member must be a finite number",
        ),
        (
            {"messages": [user()], "inferenceConfig": {"maxTokens": 0}},
            "Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have "
            "value greater than or equal to 1",
        ),
        (
            {"messages": [{"role": "bogus", "content": [{"text": "x"}]}]},
            "Value 'bogus' at 'messages.1.member.role' failed to satisfy constraint: Member must satisfy "
            "enum value set: [user, assistant, system]",
        ),
        (
            {"messages": [user({"text": "a", "image": {"format": "png", "source": {"bytes": "aGk="}}})]},
            "at 'messages.1.member.content.1.member' failed to satisfy constraint: Member must have "
            "exactly one of [text, image,",
        ),
        (
            {"messages": [user({})]},
            "(got none)",
        ),
        (
            {"messages": [{"content": [{"text": "x"}]}]},
            "Value null at 'messages.1.member.role' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"messages": [user()], "inferenceConfig": {"maxTokens": "ten"}},
            "Value 'ten' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must be of "
            "type integer",
        ),
        (
            {"messages": [user()], "inferenceConfig": {"maxTokens": True}},
            "Member must be of type integer",
        ),
        (
            {"messages": [user()], "toolConfig": {"tools": []}},
            "Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length "
            "greater than or equal to 1",
        ),
        (
            {
                "messages": [user()],
                "toolConfig": {"tools": [{"toolSpec": {"name": "a b", "inputSchema": {"json": {}}}}]},
            },
            "at 'toolConfig.tools.1.member.toolSpec.name' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: [a-zA-Z0-9_-]+",
        ),
        (
            {"messages": [user()], "temperature": 0.5},
            "Value at 'temperature' failed to satisfy constraint: Member is not a known member of "
            "ConverseRequest",
        ),
        (
            {"messages": [user()], "inferenceConfig": {"topK": 3}},
            "Value at 'inferenceConfig.topK' failed to satisfy constraint: Member is not a known member",
        ),
        (
            {"messages": [user()], "modelId": "x"},
            "Value at 'modelId' failed to satisfy constraint: Member is not a known member",
        ),
        (
            {"messages": [user({"image": {"format": "png", "source": {"bytes": "not base64!"}}})]},
            "Value '***' at 'messages.1.member.content.1.member.image.source.bytes' failed to satisfy "
            "constraint: Member must be valid base64",
        ),
        (
            {"messages": [user()], "requestMetadata": {"k": "v" * 300}},
            "at 'requestMetadata.k' failed to satisfy constraint: Member must have length less than "
            "or equal to 256",
        ),
    ],
)
def test_model_constraints(body: dict[str, Any], expected: str):
    assert expected in converse_error(body)


def test_all_violations_are_counted_in_one_message():
    message = converse_error(
        {"messages": [user()], "inferenceConfig": {"temperature": 2, "topP": -1}, "extra": 1}
    )
    assert message.startswith("3 validation errors detected: ")
    assert message.count("; ") == 2


def test_values_inside_sensitive_shapes_are_not_echoed():
    reasoning = {"reasoningContent": {"reasoningText": {"text": 5}}}
    message = converse_error({"messages": [user(), assistant(reasoning)]})
    assert (
        "Value '***' at 'messages.2.member.content.1.member.reasoningContent.reasoningText.text'" in message
    )
    assert "Value '5' at 'messages.1.member.content.1.member.text'" in converse_error(
        {"messages": [user({"text": 5})]}
    )


def test_model_id_pattern_and_length():
    assert "at 'modelId' failed to satisfy constraint: Member must satisfy regular expression" in (
        converse_error({"messages": [user()]}, model_id="bad id!")
    )
    assert "Member must have length less than or equal to 2048" in converse_error(
        {"messages": [user()]}, model_id="a" * 2049
    )


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [user()]},
        {"messages": [user()], "system": []},  # langchain always sends an empty system list
        {
            "messages": [user(), assistant(), user()],
            "system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
        },
        {"messages": [user({"text": "x"}, {"cachePoint": {"type": "default"}})]},
        {"messages": [user()], "additionalModelRequestFields": {"top_k": 5, "nested": [1, {"a": None}]}},
        {
            "messages": [
                user({"image": {"format": "png", "source": {"bytes": base64.b64encode(b"png").decode()}}})
            ]
        },
        {
            "messages": [user()],
            "inferenceConfig": {"maxTokens": 10, "temperature": 0, "topP": 1, "stopSequences": ["\n"]},
            "toolConfig": {**TOOLS, "toolChoice": {"tool": {"name": "weather"}}},
        },
        {
            "messages": [
                user(),
                assistant({"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Oslo"}}}),
                user({"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 3}}]}}),
            ],
            "toolConfig": TOOLS,
        },
        {
            "messages": [user()],
            "outputConfig": {
                "textFormat": {
                    "type": "json_schema",
                    "structure": {"jsonSchema": {"schema": '{"type":"object"}'}},
                }
            },
        },
    ],
)
def test_valid_requests_pass(body: dict[str, Any]):
    validate_input("bedrock-runtime", "Converse", body, {"modelId": MODEL})
    check_converse(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"messages": [assistant()]}, "A conversation must start with a user message."),
        ({"messages": []}, "A conversation must start with a user message."),
        ({"messages": [user(), user()]}, "A conversation must alternate between user and assistant roles."),
        ({"system": [{"text": "x"}]}, "Value null at 'messages'"),
        (
            {"messages": [{"role": "system", "content": [{"text": "x"}]}]},
            "put system prompts in the top-level",
        ),
        (
            {"messages": [{"role": "user", "content": []}]},
            "The content field in the Message object at messages.0 is empty.",
        ),
        (
            {"messages": [user({"text": "  "})]},
            "The text field in the ContentBlock object at messages.0.content.0 is blank.",
        ),
        (
            {"messages": [user(), assistant({"toolUse": {"toolUseId": "t1", "name": "w", "input": {}}})]},
            "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
        ),
        (
            {
                "messages": [
                    user(),
                    assistant({"toolUse": {"toolUseId": "t1", "name": "weather", "input": {}}}),
                    user({"toolResult": {"toolUseId": "t2", "content": [{"text": "x"}]}}),
                ],
                "toolConfig": TOOLS,
            },
            "reference toolUseIds that are not in the previous assistant turn: t2",
        ),
        (
            {
                "messages": [
                    user(),
                    assistant({"toolUse": {"toolUseId": "t1", "name": "weather", "input": {}}}),
                    user(),
                ],
                "toolConfig": TOOLS,
            },
            "Expected toolResult blocks at messages.2.content for the following Ids: t1",
        ),
        (
            {"messages": [user()], "toolConfig": {**TOOLS, "toolChoice": {"tool": {"name": "nope"}}}},
            "toolConfig.toolChoice.tool.name 'nope' doesn't match any tool",
        ),
        (
            {"messages": [user()], "toolConfig": {"tools": TOOLS["tools"] * 2}},
            "duplicate tool names: weather",
        ),
        (
            {
                "messages": [user()],
                "toolConfig": {"tools": [{"toolSpec": {"name": "w", "inputSchema": {"json": [1]}}}]},
            },
            "inputSchema.json must be a JSON schema object",
        ),
        (
            {
                "messages": [user()],
                "outputConfig": {
                    "textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{"}}}
                },
            },
            "outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON",
        ),
    ],
)
def test_bedrock_rules_beyond_the_model(body: dict[str, Any], expected: str):
    assert expected in converse_error(body)


def test_max_tokens_is_bounded_by_the_models_context_window():
    model = ModelInfo(model_id=MODEL, name="echo", provider_name="fake", context_window=100)
    check_max_tokens(100, model)
    check_max_tokens(None, model)
    with pytest.raises(ValidationException, match="exceeds the model limit of 100"):
        check_max_tokens(101, model)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"", {}), (b"  ", {}), (b'{"a": 1}', {"a": 1})],
)
def test_json_bodies(raw: bytes, expected: dict):
    assert parse_json_body(raw) == expected


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b"not json", b"\xff\xfe", b"[" * 100_000])
def test_non_json_bodies_are_validation_errors(raw: bytes):
    with pytest.raises(ValidationException, match="Malformed request body"):
        parse_json_body(raw)


def test_bind_params_maps_wire_names_and_converts_integers():
    params = bind_params(
        "bedrock",
        "ListInferenceProfiles",
        query={"maxResults": "5", "type": "APPLICATION", "unrelated": "x"},
    )
    assert params == {"maxResults": 5, "typeEquals": "APPLICATION"}
    headers = {"X-Amzn-Bedrock-Trace": "ENABLED", "Content-Type": "application/json"}
    params = bind_params("bedrock-runtime", "InvokeModel", path={"modelId": MODEL}, headers=headers)
    assert params == {"modelId": MODEL, "trace": "ENABLED", "contentType": "application/json"}


def test_query_and_header_members_are_validated():
    with pytest.raises(ValidationException, match="Member must have value less than or equal to 1000"):
        validate_input("bedrock", "ListInferenceProfiles", params={"maxResults": 5000})
    with pytest.raises(ValidationException, match=r"enum value set: \[ENABLED, DISABLED, ENABLED_FULL\]"):
        validate_input("bedrock-runtime", "InvokeModel", params={"modelId": MODEL, "trace": "LOUD"})
    with pytest.raises(ValidationException, match="Member must be of type integer"):
        validate_input("bedrock", "ListInferenceProfiles", params={"maxResults": "many"})
