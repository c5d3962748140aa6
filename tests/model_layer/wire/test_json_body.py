"""The strict body parser: what Python's json accepts but a Bedrock/OpenAI parser must refuse."""

from __future__ import annotations

import pytest

from model_layer.errors import ValidationException
from model_layer.wire.json_body import MAX_DEPTH, MalformedJSON, parse_json
from model_layer.wire.validate import parse_json_body, parse_schema


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        pytest.param(b'{"a": "\\ud83d\\ude00"}', {"a": "\U0001f600"}, id="paired-surrogates-escape"),
        pytest.param('{"a": "é😀"}'.encode(), {"a": "é😀"}, id="raw-utf8"),
        pytest.param(b'{"a": 1.5e300, "b": -12}', {"a": 1.5e300, "b": -12}, id="big-but-finite"),
        pytest.param(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, None, id="max-depth"),
        pytest.param(b'{"n": ' + b"9" * 100 + b"}", {"n": int("9" * 100)}, id="100-digits"),
        pytest.param(b'{"s": "\\\\ud800"}', {"s": "\\ud800"}, id="escaped-backslash-is-no-surrogate"),
    ],
)
def test_accepts_what_json_allows(raw, value):
    parsed = parse_json(raw)
    if value is not None:
        assert parsed == value


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b'{"a": "\\ud800"}', "the string at 'a' contains a lone UTF-16 surrogate", id="value"),
        pytest.param(b'{"a": ["x", "\\uDC00"]}', "the string at 'a.1' contains", id="low-in-list"),
        pytest.param(b'{"\\ud800": 1}', "a key in the object contains a lone", id="key"),
        pytest.param(b'"\\ud83d"', "the string contains a lone", id="top-level-high-alone"),
        pytest.param(b'{"a": "\xff"}', "not valid UTF-8 (byte 7)", id="invalid-utf8"),
        pytest.param('{"a": 1}'.encode("utf-16"), "not valid UTF-8", id="utf16"),
        pytest.param(b'{"t": NaN}', "NaN is not a valid JSON value", id="nan"),
        pytest.param(b'{"t": -Infinity}', "-Infinity is not a valid JSON value", id="minus-infinity"),
        pytest.param(b'{"t": 1e400}', "the number 1e400 is out of range", id="overflowing-float"),
        pytest.param(b'{"n": ' + b"9" * 5000 + b"}", "more than 100 digits", id="5000-digits"),
        pytest.param(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper", id="depth+1"),
        pytest.param(b"[" * 10_000 + b"]" * 10_000, "nested deeper", id="10000-deep"),
        pytest.param(b'{"a": 1,}', "not valid JSON (Expecting property name", id="syntax"),
        pytest.param(b"", "not valid JSON (Expecting value at line 1 column 1)", id="empty"),
    ],
)
def test_refuses_with_a_reason_and_no_python_internals(raw, reason):
    with pytest.raises(MalformedJSON) as info:
        parse_json(raw)
    assert reason in info.value.reason
    for internal in ("sys.set_int_max_str_digits", "codec", "recursion", "Traceback"):
        assert internal not in info.value.reason


def test_bedrock_body_wording():
    with pytest.raises(ValidationException, match=r"^Malformed request body: NaN is not a valid"):
        parse_json_body(b'{"inferenceConfig": {"temperature": NaN}}')
    assert parse_json_body(b"  ") == {}


def test_schema_strings_are_parsed_strictly():
    with pytest.raises(ValidationException, match=r"is not valid JSON: .*lone UTF-16 surrogate"):
        parse_schema('{"description": "\\udfff"}', "outputConfig.textFormat.structure.jsonSchema.schema")
