"""Request bounds: what a schema measures, and each bound refusing one past it in AWS's wording."""

from __future__ import annotations

import json

import pytest

from model_layer.errors import ValidationException
from model_layer.service import ModelService
from model_layer.types import ChatRequest, ToolSpec
from model_layer.wire.bounds import (
    OUTPUT_SCHEMA_PATH,
    RequestBounds,
    check_chat_request,
    check_embedding_request,
    measure_schema,
    pattern_repetition,
    text_chars,
)

DEFAULTS = RequestBounds.model_construct()


def ask(text: str = "hi", **kw) -> ChatRequest:
    return ChatRequest(model_id="m", messages=[{"role": "user", "content": [{"text": text}]}], **kw)


def enum_schema(n: int) -> dict:
    return {"type": "object", "properties": {"v": {"enum": [f"v{i}" for i in range(n)]}}}


def tool(name: str, schema: dict) -> ToolSpec:
    return ToolSpec(name, "", schema)


# --- measuring a schema ---------------------------------------------------------------------------


def test_measure_counts_what_a_grammar_unrolls():
    schema = {
        "type": "object",
        "properties": {
            "kind": {"enum": ["a", "b", "c"]},
            "fixed": {"const": 1},
            "choice": {"anyOf": [{"type": "string", "maxLength": 40}, {"type": "integer"}]},
            "list": {"type": "array", "items": {"type": "string", "pattern": "^(ab){2,5}$"}, "maxItems": 9},
        },
        "$defs": {"x": {"oneOf": [{"type": "null"}]}},
    }
    stats = measure_schema(schema)
    assert stats.enum_values == 4  # 3 enum entries + 1 const
    assert stats.properties == 4
    assert stats.branches == 3  # anyOf 2 + oneOf 1
    assert stats.repetition == 40  # the largest count: maxLength 40
    assert stats.depth == 6  # schema → properties → choice → anyOf → a branch → its maxLength
    assert stats.chars == len(json.dumps(schema, separators=(",", ":")))


def test_keywords_are_only_counted_where_they_are_keywords():
    # A property *named* "enum" and enum values that look like schemas are data, not keywords.
    schema = {
        "type": "object",
        "properties": {"enum": {"type": "string"}, "const": {"type": "integer"}},
        "default": {"enum": [1, 2, 3]},
        "examples": [{"anyOf": [1, 2]}],
        "enum": [{"properties": {"a": 1}}, {"const": 2}],
    }
    stats = measure_schema(schema)
    assert (stats.enum_values, stats.properties, stats.branches) == (2, 2, 0)


def test_a_very_deep_schema_is_measured_without_recursion():
    schema: dict = {"type": "string"}
    for _ in range(20_000):
        schema = {"items": schema}
    assert measure_schema(schema).depth == 20_002  # the wrappers, the innermost schema, its value


@pytest.mark.parametrize(
    ("pattern", "repetition"),
    [
        ("^[a-z]{1,1000}$", 1000),
        ("^((ab|a){1,10}){1,100}$", 1000),  # nested counts multiply
        ("^a{1,100}b{1,100}$", 100),  # sequential counts do not
        ("^(a|b|ab|ba){1,200}(c{1,50}|d{2,80}){1,40}$", 3200),
        ("(((a{10}){10}){10}){10}", 10_000),
        ("x{3,}", 3),
        (r"\{1000}[{]{5}", 5),  # escaped and bracketed braces are literals
        ("^[^]{]{7}$", 7),
        ("(a*)+b", 1),  # stars are not unrolled
        ("((a", 1),  # malformed patterns are measured, never an error here
    ],
)
def test_pattern_repetition(pattern: str, repetition: int):
    assert pattern_repetition(pattern) == repetition


def test_text_chars_counts_string_values_but_not_binary_payloads():
    content = [
        {"text": "abc"},
        {"image": {"format": "png", "source": {"bytes": "A" * 10_000}}},
        {"toolResult": {"toolUseId": "t1", "content": [{"json": {"k": "vw"}}]}},
    ]
    assert text_chars(content) == len("abc") + len("png") + len("t1") + len("vw")


# --- each bound -----------------------------------------------------------------------------------


def _messages(n: int) -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": [{"text": "x"}]} for i in range(n)]


CASES = [
    # (name, a request exactly at the bound, the same one past it, the path and phrase of the error)
    (
        "messages",
        lambda n: ChatRequest(model_id="m", messages=_messages(n)),
        DEFAULTS.max_messages,
        "Value at 'messages' failed to satisfy constraint: Member must have length less than or equal to "
        "1000",
    ),
    (
        "tools",
        lambda n: ask(tools=[tool(f"t{i}", {"type": "object"}) for i in range(n)]),
        DEFAULTS.max_tools,
        "Value at 'toolConfig.tools' failed to satisfy constraint: Member must have length less than or "
        "equal to 128",
    ),
    (
        "enum values",
        lambda n: ask(json_schema=enum_schema(n)),
        DEFAULTS.max_schema_enum_values,
        f"Value at '{OUTPUT_SCHEMA_PATH}' failed to satisfy constraint: Member must have a number of enum "
        "and const values less than or equal to 256 (found 257)",
    ),
    (
        "properties",
        lambda n: ask(json_schema={"type": "object", "properties": {f"p{i}": {} for i in range(n)}}),
        DEFAULTS.max_schema_properties,
        "Member must have a number of properties less than or equal to 256 (found 257)",
    ),
    (
        "branches",
        lambda n: ask(json_schema={"anyOf": [{"type": "integer"}] * n}),
        DEFAULTS.max_schema_branches,
        "Member must have a number of anyOf/oneOf/allOf branches less than or equal to 128 (found 129)",
    ),
    (
        "repetition",
        lambda n: ask(json_schema={"type": "array", "minItems": n}),
        DEFAULTS.max_schema_repetition,
        "Member must have repetition counts less than or equal to 1000 (found 1001)",
    ),
    (
        "depth",
        lambda n: ask(json_schema=_nested({"type": "string"}, n - 1)),
        DEFAULTS.max_schema_depth,
        "Member must have a JSON nesting depth less than or equal to 32 (found 33)",
    ),
    (
        "schema size",
        lambda n: ask(json_schema={"description": "d" * (n - len('{"description":""}'))}),
        DEFAULTS.max_schema_chars,
        "Member must have a size less than or equal to 64000 characters (found 64001)",
    ),
    (
        "text",
        lambda n: ChatRequest(model_id="m", messages=[{"role": "user", "content": [{"text": "t" * n}]}]),
        DEFAULTS.max_request_text_chars,
        "Member must have a total text length (system prompts and tool descriptions included) less than or "
        "equal to 1000000 characters (found 1000001)",
    ),
]


def _nested(schema: dict, depth: int) -> dict:
    for _ in range(depth - 1):
        schema = {"items": schema}
    return schema


@pytest.mark.parametrize(("name", "build", "bound", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_bound_admits_its_limit_and_refuses_one_more(name, build, bound, message):
    check_chat_request(build(bound))
    with pytest.raises(ValidationException) as refused:
        check_chat_request(build(bound + 1))
    assert refused.value.message.startswith("1 validation error detected: ")
    assert message in refused.value.message


def test_every_violation_is_listed_in_one_error():
    request = ChatRequest(
        model_id="m",
        messages=_messages(1001),
        json_schema={"anyOf": [{"enum": list(range(300))}] * 130},
    )
    with pytest.raises(ValidationException, match=r"^4 validation errors detected: ") as refused:
        check_chat_request(request)
    for phrase in ("'messages'", "a size less than", "enum and const values", "anyOf/oneOf/allOf"):
        assert phrase in refused.value.message


def test_a_tool_schema_is_named_by_its_position():
    tools = [tool("ok", {"type": "object"}), tool("big", enum_schema(300))]
    with pytest.raises(
        ValidationException, match=r"'toolConfig\.tools\.2\.member\.toolSpec\.inputSchema\.json'"
    ):
        check_chat_request(ask(tools=tools))


def test_schemas_of_one_request_count_together():
    # Tools and the output schema become one grammar: each is within the bound, the sum is not.
    half = enum_schema(150)
    request = ask(tools=[tool("a", half)], json_schema=half)
    with pytest.raises(ValidationException) as refused:
        check_chat_request(request)
    assert "Value at 'toolConfig' failed to satisfy constraint: Member (the tool input schemas and the " in (
        refused.value.message
    )
    assert "(found 300)" in refused.value.message
    check_chat_request(request, RequestBounds(max_schema_enum_values=300))


def test_bounds_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STRATA_MAX_MESSAGES", "2")
    monkeypatch.setenv("STRATA_MAX_SCHEMA_ENUM_VALUES", "3")
    bounds = RequestBounds()
    assert (bounds.max_messages, bounds.max_schema_enum_values) == (2, 3)
    assert ModelService(router=None).bounds == bounds  # type: ignore[arg-type]
    with pytest.raises(ValidationException, match="less than or equal to 2"):
        check_chat_request(ChatRequest(model_id="m", messages=_messages(3)), bounds)
    check_chat_request(ChatRequest(model_id="m", messages=_messages(3)))  # defaults: not the env


def test_a_nan_count_is_not_a_crash():
    check_chat_request(ask(json_schema={"type": "string", "maxLength": float("nan")}))


def test_embedding_requests_are_bounded_by_count_and_text():
    check_embedding_request(["t"] * DEFAULTS.max_embedding_inputs)
    with pytest.raises(ValidationException, match=r"'input' .* less than or equal to 2048"):
        check_embedding_request(["t"] * (DEFAULTS.max_embedding_inputs + 1))
    with pytest.raises(ValidationException, match=r"total text length .* \(found 1000001\)"):
        check_embedding_request(["t" * 500_000, "t" * 500_001])
