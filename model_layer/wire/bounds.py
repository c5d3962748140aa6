"""Bounds on what one request may ask of a model engine, checked before any engine sees it.

Every chat request passes :func:`check_chat_request` in :class:`~model_layer.service.ModelService`
(all routes: Converse, InvokeModel, ``/v1``, CountTokens). A request over a bound is a
``ValidationException`` (HTTP 400) at once, instead of minutes of tokenising or grammar
compilation that would hold an engine every tenant shares.

What costs an engine, measured on llama.cpp (``bench/engine_isolation_bench.py``):

- JSON schemas (``outputConfig`` / ``response_format``, and every tool's input schema, since
  tool use on a local model is one grammar over all tools) are compiled into a grammar that is
  evaluated in the engine's single scheduling thread at *every* generated token: a large enum or
  many alternatives slow every tenant's stream, not only the asking one. Bounded here: size,
  nesting depth, enum/const values, properties, anyOf/oneOf/allOf branches, repetition counts.
- The number of messages and the text size: the chat template and the tokenizer run over all of
  it before the engine can even say the prompt is too long (10,001 messages: ~6 s).
- The number of tools.

The defaults keep one request at a bound to about a second of engine time on a 2-core machine;
each is a setting (``STRATA_MAX_MESSAGES`` …, see :class:`RequestBounds`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_layer.types import ChatRequest
from model_layer.wire.validate import raise_if_any

OUTPUT_SCHEMA_PATH = "outputConfig.textFormat.structure.jsonSchema.schema"


class RequestBounds(BaseSettings):
    """The limits, read once from the environment (prefix ``STRATA_``) when the service is built."""

    model_config = SettingsConfigDict(env_prefix="STRATA_", extra="ignore", frozen=True)

    max_messages: int = Field(1000, ge=1)
    # Characters of text in messages, system prompts and tool descriptions (binary image/document
    # bytes excluded). 1M characters is more than any context window takes (~250k tokens).
    max_request_text_chars: int = Field(1_000_000, ge=1)
    max_tools: int = Field(128, ge=0)  # OpenAI's limit for one request
    # Schema bounds apply to each schema and to all schemas of one request together.
    max_schema_chars: int = Field(64_000, ge=1)  # as compact JSON
    max_schema_depth: int = Field(32, ge=1)  # JSON nesting of the schema document
    max_schema_enum_values: int = Field(256, ge=0)  # enum entries + const values
    max_schema_properties: int = Field(256, ge=0)
    max_schema_branches: int = Field(128, ge=0)  # anyOf / oneOf / allOf entries
    # minItems/maxItems/minLength/maxLength/… and {m,n} counts in patterns: a grammar unrolls them.
    max_schema_repetition: int = Field(1000, ge=0)
    # Texts in one embeddings request (OpenAI's limit); their characters count against
    # max_request_text_chars.
    max_embedding_inputs: int = Field(2048, ge=1)


@dataclass
class SchemaStats:
    """What a JSON schema asks of a grammar compiler (see :func:`measure_schema`)."""

    chars: int = 0
    depth: int = 0
    enum_values: int = 0
    properties: int = 0
    branches: int = 0
    repetition: int = 0

    def add(self, other: SchemaStats) -> SchemaStats:
        """Both schemas in one grammar: sizes add up, depth and repetition are the larger one."""
        return SchemaStats(
            self.chars + other.chars,
            max(self.depth, other.depth),
            self.enum_values + other.enum_values,
            self.properties + other.properties,
            self.branches + other.branches,
            max(self.repetition, other.repetition),
        )


# Keywords whose value is one subschema, a list of them, or a name → subschema map.
_SUBSCHEMA = frozenset(
    {"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
     "additionalItems", "unevaluatedItems", "unevaluatedProperties"}
)  # fmt: skip
_SUBSCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_COUNTS = frozenset(
    {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties", "minContains",
     "maxContains"}
)  # fmt: skip
_PATTERN_COUNT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_CAP = 10**12  # counts beyond this are all "too many"; keeps the products small integers
# What each node is: a schema (its keywords mean something), a name → schema map, or plain data.
_SCHEMA, _MAP, _DATA = 0, 1, 2


def measure_schema(schema: Any) -> SchemaStats:
    """Size, depth and the grammar-relevant counts of one JSON schema.

    Iterative (no recursion), so an absurdly deep document is measured, not a ``RecursionError``.
    ``chars`` is the length of the schema as compact JSON (string escapes aside).
    """
    stats = SchemaStats()
    stack: list[tuple[Any, int, int]] = [(schema, 1, _SCHEMA)]
    while stack:
        node, depth, kind = stack.pop()
        stats.depth = max(stats.depth, depth)
        if isinstance(node, dict):
            stats.chars += 1 + len(node)  # braces and commas
            for key, value in node.items():
                stats.chars += len(key) + 3  # "key":
                child = _DATA
                if kind == _MAP:
                    child = _SCHEMA
                elif kind == _SCHEMA:
                    child = _keyword(stats, key, value)
                stack.append((value, depth + 1, child))
        elif isinstance(node, list):
            stats.chars += 1 + max(len(node), 1)
            stack.extend((item, depth + 1, kind) for item in node)
        elif isinstance(node, str):
            stats.chars += len(node) + 2
        else:
            stats.chars += len(str(node))
    return stats


def _keyword(stats: SchemaStats, key: str, value: Any) -> int:
    """Count one schema keyword; return what its value is."""
    if key == "enum" and isinstance(value, list):
        stats.enum_values += len(value)
    elif key == "const":
        stats.enum_values += 1
    elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
        if key == "properties":
            stats.properties += len(value)
        return _MAP
    elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
        if key != "prefixItems":
            stats.branches += len(value)
        return _SCHEMA
    elif key in _SUBSCHEMA:
        return _SCHEMA
    elif key in _COUNTS and isinstance(value, int | float) and value == value:  # NaN != NaN
        stats.repetition = max(stats.repetition, int(min(value, 1 << 62)))
    elif key == "pattern" and isinstance(value, str):
        stats.repetition = max(stats.repetition, pattern_repetition(value))
    return _DATA


def pattern_repetition(pattern: str) -> int:
    """The largest product of nested ``{m,n}`` counts in a regex: ``((ab|a){1,10}){1,100}`` → 1000.

    A grammar unrolls counted repetition, nested counts multiply, and llama.cpp evaluates the
    result at every token (nested 100 x 100: ~10x slower decoding for every tenant). Sequential
    counts (``a{1,100}b{1,100}``) do not multiply; ``*`` and ``+`` are not unrolled.
    """
    frames = [1]  # per open group: the largest weight of an item inside it
    last, i = 1, 0  # weight of the item just read (what a following count multiplies)
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            last, i = 1, i + 2
            continue
        if char == "[":
            i = _class_end(pattern, i)
            last = 1
        elif char == "(":
            frames.append(1)
            last = 1
        elif char == ")" and len(frames) > 1:
            last = frames.pop()
        elif char == "{" and (count := _PATTERN_COUNT.match(pattern, i)):
            low, high = count.groups()
            last = min(_CAP, last * max(int(low), int(high or 0), 1))
            i = count.end()
            frames[-1] = max(frames[-1], last)
            continue
        else:
            last = 1
        frames[-1] = max(frames[-1], last)
        i += 1
    return max(frames)


def _class_end(pattern: str, start: int) -> int:
    """Index of the ``]`` closing the character class opened at ``start`` (escapes skipped)."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":  # a leading ] is a literal
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def _schema_errors(stats: SchemaStats, bounds: RequestBounds, path: str, what: str = "") -> list[str]:
    limits = (
        (stats.chars, bounds.max_schema_chars, "a size", " characters"),
        (stats.depth, bounds.max_schema_depth, "a JSON nesting depth", ""),
        (stats.enum_values, bounds.max_schema_enum_values, "a number of enum and const values", ""),
        (stats.properties, bounds.max_schema_properties, "a number of properties", ""),
        (stats.branches, bounds.max_schema_branches, "a number of anyOf/oneOf/allOf branches", ""),
        (stats.repetition, bounds.max_schema_repetition, "repetition counts", ""),
    )
    return [
        f"Value at '{path}' failed to satisfy constraint: Member{what} must have {name} less than or "
        f"equal to {limit}{unit} (found {found})"
        for found, limit, name, unit in limits
        if found > limit
    ]


def _tool_path(index: int) -> str:
    return f"toolConfig.tools.{index + 1}.member.toolSpec.inputSchema.json"


def schema_errors(request: ChatRequest, bounds: RequestBounds) -> list[str]:
    """Each schema on its own, then all of them together (an engine compiles them as one grammar)."""
    schemas = [(_tool_path(i), tool.input_schema) for i, tool in enumerate(request.tools)]
    if request.json_schema is not None:
        schemas.append((OUTPUT_SCHEMA_PATH, request.json_schema))
    errors: list[str] = []
    total = SchemaStats()
    for path, schema in schemas:
        stats = measure_schema(schema)
        errors += _schema_errors(stats, bounds, path)
        total = total.add(stats)
    if not errors and len(schemas) > 1:
        together = " (the tool input schemas and the output schema together)"
        errors += _schema_errors(total, bounds, "toolConfig", together)
    return errors


def text_chars(node: Any) -> int:
    """Characters of text in Converse content: every string value, except binary ``bytes``."""
    total, stack = 0, [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            stack.extend(value for key, value in item.items() if key != "bytes")
        elif isinstance(item, list):
            stack.extend(item)
    return total


def check_chat_request(request: ChatRequest, bounds: RequestBounds | None = None) -> None:
    """Raise ``ValidationException`` (AWS's wording, every violation listed) when ``request``
    exceeds a bound; ``bounds=None`` uses the defaults."""
    bounds = bounds or _DEFAULTS
    errors: list[str] = []
    if len(request.messages) > bounds.max_messages:
        errors.append(
            "Value at 'messages' failed to satisfy constraint: Member must have length less than or "
            f"equal to {bounds.max_messages}"
        )
    if len(request.tools) > bounds.max_tools:
        errors.append(
            "Value at 'toolConfig.tools' failed to satisfy constraint: Member must have length less "
            f"than or equal to {bounds.max_tools}"
        )
    else:  # measuring 10,000 tools' schemas would itself be the cost the bound avoids
        errors += schema_errors(request, bounds)
    contents = [message.get("content") for message in request.messages]
    chars = text_chars([contents, request.system, [t.description for t in request.tools]])
    if chars > bounds.max_request_text_chars:
        errors.append(
            "Value at 'messages' failed to satisfy constraint: Member must have a total text length "
            f"(system prompts and tool descriptions included) less than or equal to "
            f"{bounds.max_request_text_chars} characters (found {chars})"
        )
    raise_if_any(errors)


def check_embedding_request(texts: list[str], bounds: RequestBounds | None = None) -> None:
    """Raise ``ValidationException`` when one embeddings request has too many or too long texts."""
    bounds = bounds or _DEFAULTS
    errors: list[str] = []
    if len(texts) > bounds.max_embedding_inputs:
        errors.append(
            "Value at 'input' failed to satisfy constraint: Member must have length less than or equal "
            f"to {bounds.max_embedding_inputs}"
        )
    chars = sum(len(text) for text in texts)
    if chars > bounds.max_request_text_chars:
        errors.append(
            "Value at 'input' failed to satisfy constraint: Member must have a total text length less "
            f"than or equal to {bounds.max_request_text_chars} characters (found {chars})"
        )
    raise_if_any(errors)


_DEFAULTS = RequestBounds.model_construct()  # the declared defaults, not the environment's
