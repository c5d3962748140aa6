"""Bedrock's retrieval filter language: checked, evaluated in Python, and pushed down to the vector
store where it can be.

Operators: ``equals, notEquals, greaterThan, greaterThanOrEquals, lessThan, lessThanOrEquals, in,
notIn, startsWith, listContains, stringContains`` over ``{key, value}``, combined by ``andAll`` /
``orAll`` (≥ 2 filters each, nesting allowed). :func:`check_filter` reports a wrong value type as
a ValidationException naming the field. :func:`matches` is the reference semantics (a missing
attribute matches only ``notEquals``/``notIn``); :func:`to_chroma` translates the operators whose
Chroma meaning is the same, or returns None so the caller filters in Python instead.
"""

from __future__ import annotations

from typing import Any

from model_layer.errors import ValidationException

LEAVES = (
    "equals",
    "notEquals",
    "greaterThan",
    "greaterThanOrEquals",
    "lessThan",
    "lessThanOrEquals",
    "in",
    "notIn",
    "startsWith",
    "listContains",
    "stringContains",
)
_NUMERIC = {
    "greaterThan": "$gt",
    "greaterThanOrEquals": "$gte",
    "lessThan": "$lt",
    "lessThanOrEquals": "$lte",
}
_SCALAR = str | int | float | bool


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_filter(f: Any, path: str) -> None:
    """Value types per operator (the botocore model checks the structure, not the JSON values)."""
    if not isinstance(f, dict) or len(f) != 1:
        raise ValidationException(f"{path} must set exactly one operator")
    ((op, arg),) = f.items()
    if op in ("andAll", "orAll"):
        if not isinstance(arg, list) or len(arg) < 2:
            raise ValidationException(f"{path}.{op} must hold at least 2 filters")
        for i, sub in enumerate(arg, 1):
            check_filter(sub, f"{path}.{op}.{i}.member")
        return
    if op not in LEAVES:
        raise ValidationException(f"{path}: unknown filter operator {op}")
    if not isinstance(arg, dict) or not isinstance(arg.get("key"), str) or "value" not in arg:
        raise ValidationException(f"{path}.{op} must have a key and a value")
    value, where = arg["value"], f"{path}.{op}.value"
    if op in _NUMERIC and not _is_number(value):
        raise ValidationException(f"{where} must be a number")
    if op in ("in", "notIn") and not (
        isinstance(value, list) and value and all(isinstance(v, _SCALAR) for v in value)
    ):
        raise ValidationException(f"{where} must be a non-empty list of strings, numbers or booleans")
    if op in ("startsWith", "stringContains") and not isinstance(value, str):
        raise ValidationException(f"{where} must be a string")
    if op in ("equals", "notEquals", "listContains") and not isinstance(value, _SCALAR):
        raise ValidationException(f"{where} must be a string, number or boolean")


def matches(f: dict[str, Any], metadata: dict[str, Any]) -> bool:
    ((op, arg),) = f.items()
    if op == "andAll":
        return all(matches(sub, metadata) for sub in arg)
    if op == "orAll":
        return any(matches(sub, metadata) for sub in arg)
    key, value = arg["key"], arg["value"]
    if key not in metadata:
        return op in ("notEquals", "notIn")
    have = metadata[key]
    return _leaf(op, have, value)


def _leaf(op: str, have: Any, value: Any) -> bool:
    if op == "equals":
        return _same(have, value)
    if op == "notEquals":
        return not _same(have, value)
    if op in _NUMERIC:
        if not _is_number(have):
            return False
        return {
            "greaterThan": have > value,
            "greaterThanOrEquals": have >= value,
            "lessThan": have < value,
            "lessThanOrEquals": have <= value,
        }[op]
    if op == "in":
        return any(_same(have, v) for v in value)
    if op == "notIn":
        return not any(_same(have, v) for v in value)
    if op == "startsWith":
        return isinstance(have, str) and have.startswith(value)
    if op == "listContains":
        return isinstance(have, list) and any(_same(h, value) for h in have)
    if op == "stringContains":
        if isinstance(have, list):
            return any(isinstance(h, str) and value in h for h in have)
        return isinstance(have, str) and value in have
    return False


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def to_chroma(f: dict[str, Any]) -> dict[str, Any] | None:
    """The equivalent Chroma ``where``, or None if any part has no exact Chroma equivalent.

    notEquals/notIn are kept out: Chroma does not match records that lack the key, Bedrock does.
    """
    ((op, arg),) = f.items()
    if op in ("andAll", "orAll"):
        parts = [to_chroma(sub) for sub in arg]
        if any(p is None for p in parts):
            return None
        return {"$and" if op == "andAll" else "$or": parts}
    key, value = arg["key"], arg["value"]
    if op == "equals":
        return {key: {"$eq": value}}
    if op in _NUMERIC:
        return {key: {_NUMERIC[op]: value}}
    if op == "in":
        return {key: {"$in": value}}
    if op == "listContains":
        return {key: {"$contains": value}}
    return None
