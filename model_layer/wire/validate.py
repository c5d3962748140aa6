"""Request validation built from botocore's service models, plus the checks a model cannot express.

botocore only checks ``required``, types and ``min`` on the client side; a server must check the
rest (max, enums, patterns, unions). Rather than retyping Bedrock's limits, :func:`validate_input`
walks the operation's input shape from ``botocore.session.get_session().get_service_model(...)``
and reports every violation in AWS's words::

    1 validation error detected: Value '5' at 'inferenceConfig.temperature' failed to satisfy
    constraint: Member must have value less than or equal to 1

List elements are addressed as AWS does (``messages.1.member.content``, 1-based). The semantic
checks Bedrock applies beyond the model (conversation shape, tool-result ids, tool choice, the
model's own token limit) live in :func:`check_converse`. Every failure is a
``ValidationException`` (HTTP 400), never a 422 or a 500.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import json
import math
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import botocore.session
import regex
from botocore.model import OperationModel, Shape

from model_layer.errors import MaxTokensTooLarge, ValidationException
from model_layer.types import ModelInfo
from model_layer.wire.json_body import MalformedJSON, parse_json

_MAX_REPORTED = 10  # like AWS, list a bounded number of violations in one message


@functools.cache
def _service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


def operation_model(service: str, operation: str) -> OperationModel:
    """botocore's model of ``operation`` (e.g. ``("bedrock-runtime", "Converse")``)."""
    return _service_model(service).operation_model(operation)


@functools.cache
def _compiled(pattern: str) -> regex.Pattern[str]:
    # botocore's models carry Java-style patterns (\p{L}, \p{M} in bedrock's guardrail shapes):
    # the `regex` engine understands them where `re` raises.
    return regex.compile(pattern)


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object (:mod:`~model_layer.wire.json_body`'s
    strict rules); an empty body counts as ``{}``."""
    if not raw.strip():
        return {}
    try:
        body = parse_json(raw)
    except MalformedJSON as exc:
        raise ValidationException(f"Malformed request body: {exc.reason}") from None
    if not isinstance(body, dict):
        raise ValidationException("Malformed request body: expected a JSON object")
    return body


def validate_input(
    service: str,
    operation: str,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> None:
    """Check one request against the operation's input shape.

    ``body`` holds the JSON body members, ``params`` the members bound elsewhere (path labels,
    query strings, headers) keyed by their *member* names. A body key that is not a body member
    is an error; so is a missing required member wherever it belongs.
    """
    shape = operation_model(service, operation).input_shape
    errors: list[str] = []
    body, params = body or {}, params or {}
    payload = shape.serialization.get("payload")
    for name, member in shape.members.items():
        if name == payload:
            continue  # a raw payload (InvokeModel's body) is the operation's own business
        source = params if "location" in member.serialization else body
        if name in source and source[name] is not None:
            _check(member, source[name], name, errors)
        elif name in shape.required_members:
            errors.append(f"Value null at '{name}' failed to satisfy constraint: Member must not be null")
    for key in body:
        member = shape.members.get(key)
        if member is None or "location" in member.serialization or key == payload:
            errors.append(_unknown(key, shape))
    raise_if_any(errors)


def bind_params(
    service: str,
    operation: str,
    *,
    path: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Collect the operation's non-body members from the HTTP request, keyed by member name.

    Wire names come from the model (``byProvider``, ``X-Amzn-Bedrock-Trace``…); integer query
    strings are converted so range checks apply (a non-number stays a string and fails its type).
    """
    sources = {"uri": path or {}, "querystring": query or {}, "header": headers or {}}
    bound: dict[str, Any] = {}
    for name, member in operation_model(service, operation).input_shape.members.items():
        location = member.serialization.get("location")
        if location not in sources:
            continue
        value = sources[location].get(member.serialization.get("name", name))
        if value is None:
            continue
        if member.type_name in ("integer", "long") and value.lstrip("-").isdigit():
            value = int(value)
        bound[name] = value
    return bound


def raise_if_any(errors: list[str]) -> None:
    """Raise one ``ValidationException`` listing ``errors`` the way AWS counts them."""
    if not errors:
        return
    n = len(errors)
    noun = "validation error" if n == 1 else "validation errors"
    shown = "; ".join(errors[:_MAX_REPORTED])
    raise ValidationException(f"{n} {noun} detected: {shown}")


# --- the shape walk ---------------------------------------------------------------------------


# Set while checking inside a sensitive shape: AWS does not echo sensitive values (image bytes,
# reasoning text, request metadata) in error messages, nor anything nested in them.
_inside_sensitive: ContextVar[bool] = ContextVar("inside_sensitive", default=False)


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if shape.metadata.get("document"):
        return  # documents are free-form JSON (tool inputs, additionalModelRequestFields)
    checker = _CHECKERS.get(shape.type_name)
    if checker is None:  # a type this walk does not know: accept rather than reject valid input
        return
    if not shape.metadata.get("sensitive") or _inside_sensitive.get():
        checker(shape, value, path, errors)
        return
    token = _inside_sensitive.set(True)
    try:
        checker(shape, value, path, errors)
    finally:
        _inside_sensitive.reset(token)


def _check_structure(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(_type_error(shape, value, path, "structure"))
        return
    for key, item in value.items():
        member = shape.members.get(key)
        if member is None:
            errors.append(_unknown(f"{path}.{key}", shape))
        elif item is not None:
            _check(member, item, f"{path}.{key}", errors)
    if shape.metadata.get("union"):
        present = [k for k, v in value.items() if v is not None and k in shape.members]
        if len(present) != 1:
            options = ", ".join(shape.members)
            got = ", ".join(present) or "none"
            errors.append(
                f"Value at '{path}' failed to satisfy constraint: Member must have exactly one of "
                f"[{options}] set (got {got})"
            )
        return
    for name in shape.required_members:
        if value.get(name) is None:
            errors.append(
                f"Value null at '{path}.{name}' failed to satisfy constraint: Member must not be null"
            )


def _check_list(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, list):
        errors.append(_type_error(shape, value, path, "list"))
        return
    _check_length(shape, value, len(value), path, errors)
    for i, item in enumerate(value, start=1):
        where = f"{path}.{i}.member"
        if item is None:
            errors.append(f"Value null at '{where}' failed to satisfy constraint: Member must not be null")
        else:
            _check(shape.member, item, where, errors)


def _check_map(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(_type_error(shape, value, path, "map"))
        return
    _check_length(shape, value, len(value), path, errors)
    for key, item in value.items():
        _check(shape.key, key, f"{path}.key", errors)
        if item is not None:
            _check(shape.value, item, f"{path}.{key}", errors)


def _check_string(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        errors.append(_type_error(shape, value, path, "string"))
        return
    _check_length(shape, value, len(value), path, errors)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        errors.append(
            _constraint(shape, value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        )
    pattern = shape.metadata.get("pattern")
    if pattern and not _compiled(pattern).fullmatch(value):
        errors.append(
            _constraint(shape, value, path, f"Member must satisfy regular expression pattern: {pattern}")
        )


def _check_number(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    integral = shape.type_name in ("integer", "long")
    ok = isinstance(value, int) if integral else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        errors.append(_type_error(shape, value, path, shape.type_name))
        return
    if isinstance(value, float) and not math.isfinite(value):  # NaN passes every comparison
        errors.append(_constraint(shape, value, path, "Member must be a finite number"))
        return
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        errors.append(
            _constraint(shape, value, path, f"Member must have value greater than or equal to {low}")
        )
    if high is not None and value > high:
        errors.append(_constraint(shape, value, path, f"Member must have value less than or equal to {high}"))


def _check_boolean(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, bool):
        errors.append(_type_error(shape, value, path, "boolean"))


def _check_blob(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    """Blobs travel in JSON as base64 strings; limits apply to the decoded bytes."""
    if not isinstance(value, str):
        errors.append(_type_error(shape, value, path, "base64-encoded blob"))
        return
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        errors.append(_constraint(shape, "***", path, "Member must be valid base64"))
        return
    _check_length(shape, "***", len(decoded), path, errors)


def _check_timestamp(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors.append(_type_error(shape, value, path, "timestamp"))


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_number,
    "long": _check_number,
    "float": _check_number,
    "double": _check_number,
    "boolean": _check_boolean,
    "blob": _check_blob,
    "timestamp": _check_timestamp,
}


def _check_length(shape: Shape, value: Any, length: int, path: str, errors: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        errors.append(
            _constraint(shape, value, path, f"Member must have length greater than or equal to {low}")
        )
    if high is not None and length > high:
        errors.append(
            _constraint(shape, value, path, f"Member must have length less than or equal to {high}")
        )


def _render(shape: Shape, value: Any) -> str:
    if shape.metadata.get("sensitive") or _inside_sensitive.get():
        return "***"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 100 else text[:97] + "..."


def _constraint(shape: Shape, value: Any, path: str, rule: str) -> str:
    return f"Value '{_render(shape, value)}' at '{path}' failed to satisfy constraint: {rule}"


def _type_error(shape: Shape, value: Any, path: str, expected: str) -> str:
    return _constraint(shape, value, path, f"Member must be of type {expected}")


def _unknown(path: str, parent: Shape) -> str:
    return f"Value at '{path}' failed to satisfy constraint: Member is not a known member of {parent.name}"


# --- checks the service model cannot express ---------------------------------------------------

_START_WITH_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts with "
    "a user message."
)
_ALTERNATE = (
    "A conversation must alternate between user and assistant roles. Make sure the conversation "
    "alternates between user and assistant roles and try again."
)
_TOOL_CONFIG_NEEDED = "The toolConfig field must be defined when using toolUse and toolResult content blocks."


def check_converse(body: dict[str, Any]) -> None:
    """Bedrock's Converse rules beyond the model: call after :func:`validate_input` passed.

    ``messages`` is optional in the model only for prompt-management ARNs, which this gateway
    does not serve, so it is required here.
    """
    messages = body.get("messages")
    if messages is None:
        raise_if_any(["Value null at 'messages' failed to satisfy constraint: Member must not be null"])
    _check_roles(messages)
    tool_config = body.get("toolConfig")
    _check_tool_blocks(messages, has_tool_config=tool_config is not None)
    if tool_config is not None:
        _check_tool_config(tool_config)
    _check_output_config(body.get("outputConfig"))


def _check_roles(messages: list[dict[str, Any]]) -> None:
    for i, message in enumerate(messages):
        if message["role"] == "system":
            raise ValidationException(
                f"messages.{i}.role: 'system' is not a conversation role; put system prompts in the "
                "top-level 'system' field"
            )
        _check_content(message["content"], f"messages.{i}")
    if not messages or messages[0]["role"] != "user":
        raise ValidationException(_START_WITH_USER)
    for before, after in itertools.pairwise(messages):
        if before["role"] == after["role"]:
            raise ValidationException(_ALTERNATE)


def _check_content(content: list[dict[str, Any]], where: str) -> None:
    # Bedrock's own wording; its indexes here are 0-based, unlike the model-derived paths
    if not content:
        raise ValidationException(f"The content field in the Message object at {where} is empty.")
    for j, block in enumerate(content):
        if "text" in block and not block["text"].strip():
            raise ValidationException(
                f"The text field in the ContentBlock object at {where}.content.{j} is blank."
            )


def _tool_ids(message: dict[str, Any], kind: str) -> list[str]:
    return [block[kind]["toolUseId"] for block in message["content"] if kind in block]


def _check_tool_blocks(messages: list[dict[str, Any]], *, has_tool_config: bool) -> None:
    """Tool blocks need a toolConfig, and each toolResult answers a toolUse of the turn before."""
    uses_tools = any(
        "toolUse" in block or "toolResult" in block for message in messages for block in message["content"]
    )
    if uses_tools and not has_tool_config:
        raise ValidationException(_TOOL_CONFIG_NEEDED)
    for i, message in enumerate(messages):
        results = _tool_ids(message, "toolResult")
        if not results:
            continue
        asked = _tool_ids(messages[i - 1], "toolUse") if i >= 1 else []
        unknown = [r for r in results if r not in asked]
        if unknown:
            raise ValidationException(
                f"The toolResult blocks at messages.{i}.content reference toolUseIds that are not in "
                f"the previous assistant turn: {', '.join(unknown)}"
            )
    for i, message in enumerate(messages[:-1]):
        asked = _tool_ids(message, "toolUse")
        answered = set(_tool_ids(messages[i + 1], "toolResult"))
        missing = [a for a in asked if a not in answered]
        if missing:
            raise ValidationException(
                f"Expected toolResult blocks at messages.{i + 1}.content for the following Ids: "
                f"{', '.join(missing)}"
            )


def _check_tool_config(tool_config: dict[str, Any]) -> None:
    names: list[str] = []
    for i, tool in enumerate(tool_config["tools"], start=1):
        spec = tool.get("toolSpec")
        if spec is None:
            continue
        if not isinstance(spec["inputSchema"].get("json"), dict):
            raise ValidationException(
                f"toolConfig.tools.{i}.member.toolSpec.inputSchema.json must be a JSON schema object"
            )
        names.append(spec["name"])
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationException(f"toolConfig.tools has duplicate tool names: {', '.join(duplicates)}")
    wanted = (tool_config.get("toolChoice") or {}).get("tool")
    if wanted is not None and wanted["name"] not in names:
        raise ValidationException(
            f"toolConfig.toolChoice.tool.name '{wanted['name']}' doesn't match any tool in toolConfig.tools"
        )


def _check_output_config(output_config: dict[str, Any] | None) -> None:
    text_format = (output_config or {}).get("textFormat")
    if not text_format:
        return
    schema = text_format["structure"].get("jsonSchema")
    if schema is None:
        raise ValidationException("outputConfig.textFormat.structure must contain jsonSchema")
    parse_schema(schema["schema"], "outputConfig.textFormat.structure.jsonSchema.schema")


def parse_schema(text: str, where: str) -> dict[str, Any]:
    """A JSON schema sent as a string (outputConfig); it must parse to a JSON object."""
    try:
        schema = parse_json(text)
    except MalformedJSON as exc:
        raise ValidationException(f"{where} is not valid JSON: {exc.reason}") from None
    if not isinstance(schema, dict):
        raise ValidationException(f"{where} must be a JSON schema object")
    return schema


def check_max_tokens(max_tokens: int | None, model: ModelInfo) -> None:
    """``maxTokens`` has no max in the model: enforce the serving model's own context window
    (the OpenAI route words the same error OpenAI's way: ``MaxTokensTooLarge.openai_message``)."""
    if max_tokens is not None and max_tokens > model.context_window:
        raise MaxTokensTooLarge(max_tokens, model.context_window)
