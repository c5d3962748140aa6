"""OpenAPI 3 action groups: parse and check an ``apiSchema`` payload, and turn each operation into a tool.

Bedrock takes the schema as a JSON or YAML string (inline ``payload`` or an S3 object). The checks
are the ones Bedrock documents for action-group schemas: OpenAPI 3.x, at least one path, every
operation with a ``description``, parameters ``in`` path / query / header with a primitive or
array ``schema.type``, request bodies as ``application/json`` objects; local ``$ref``s
(``#/components/...``) are resolved. Each problem is one ``ValidationException`` whose message
names the place (``apiSchema.payload: paths./orders/{id}.get.parameters[0].schema.type ...``).

An operation becomes a tool whose input is one flat object: its parameters and its JSON body's
properties (the body under ``requestBody`` when a name would clash). :class:`ApiOperation` keeps
which is which, so executors can send the call (and the Lambda event) in Bedrock's shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from model_layer.errors import ValidationException

VERBS = ("get", "post", "put", "patch", "delete")
PARAMETER_TYPES = ("string", "number", "integer", "boolean", "array")
BODY_TYPES = (*PARAMETER_TYPES, "object")
PARAMETER_LOCATIONS = ("path", "query", "header")
MAX_SCHEMA_BYTES = 1_000_000
MAX_REF_DEPTH = 32


@dataclass(frozen=True)
class ApiParameter:
    name: str
    location: str  # path | query | header
    type: str
    description: str = ""
    required: bool = False
    schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiOperation:
    """One operation of an OpenAPI action group."""

    api_path: str
    verb: str  # upper case, as Bedrock reports httpMethod
    operation_id: str | None
    description: str
    parameters: tuple[ApiParameter, ...]
    body_schema: dict[str, Any] | None  # the application/json object schema, refs resolved
    body_key: str | None  # None: body properties are top-level input keys; else nested under it

    def input_schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for p in self.parameters:
            properties[p.name] = {**p.schema, **({"description": p.description} if p.description else {})}
            if p.required:
                required.append(p.name)
        body = self.body_schema
        if body is not None:
            if self.body_key is None:
                properties.update(body.get("properties", {}))
                required.extend(body.get("required", []))
            else:
                properties[self.body_key] = body
                required.append(self.body_key)
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }


def _fail(where: str, problem: str) -> ValidationException:
    return ValidationException(f"apiSchema.payload: {where} {problem}".strip())


def parse_payload(payload: str) -> dict[str, Any]:
    """The schema document from its JSON or YAML text (YAML anchors and aliases refused: they can
    expand a small text into a huge document)."""
    if len(payload.encode("utf-8", "replace")) > MAX_SCHEMA_BYTES:
        raise _fail("", f"is larger than {MAX_SCHEMA_BYTES} bytes")
    text = payload.strip()
    try:
        document = json.loads(text) if text.startswith("{") else _load_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _fail("", f"is neither valid JSON nor valid YAML ({first_line})") from None
    if not isinstance(document, dict):
        raise _fail("", "must be an OpenAPI document (a JSON or YAML object)")
    return document


def _load_yaml(text: str) -> Any:
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise _fail("", "must not use YAML aliases")
    return yaml.safe_load(text)


def operations(document: dict[str, Any]) -> list[ApiOperation]:
    """Check the document and return its operations (in document order)."""
    version = document.get("openapi")
    if not isinstance(version, str) or not re.fullmatch(r"3\.\d+(\.\d+)?", version):
        raise _fail("openapi", f"must be an OpenAPI 3.x version string, got {version!r}")
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise _fail("paths", "must define at least one path")
    resolver = _Resolver(document)
    found: list[ApiOperation] = []
    for path, item in paths.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise _fail(f"paths.{path}", "must start with '/'")
        if not isinstance(item, dict):
            raise _fail(f"paths.{path}", "must be a path item object")
        shared = item.get("parameters", [])
        for verb in VERBS:
            if verb in item:
                found.append(_operation(resolver, path, verb, item[verb], shared))
        unsupported = set(item) - {*VERBS, "parameters", "summary", "description", "servers"}
        if unsupported & {"head", "options", "trace"}:
            raise _fail(f"paths.{path}", f"uses unsupported methods {sorted(unsupported)}")
    if not found:
        raise _fail("paths", "must define at least one operation (get, post, put, patch or delete)")
    return found


def _operation(resolver: _Resolver, path: str, verb: str, op: Any, shared: Any) -> ApiOperation:
    where = f"paths.{path}.{verb}"
    if not isinstance(op, dict):
        raise _fail(where, "must be an operation object")
    description = op.get("description") or op.get("summary")
    if not isinstance(description, str) or not description.strip():
        raise _fail(
            f"{where}.description", "is required: the agent uses it to decide when to call the operation"
        )
    parameters = _parameters(resolver, where, [*(shared or []), *(op.get("parameters") or [])])
    body_schema = _request_body(resolver, where, op.get("requestBody"))
    names = {p.name for p in parameters}
    body_props = set((body_schema or {}).get("properties", {}))
    body_key = None if not names & body_props else "requestBody"
    operation_id = op.get("operationId")
    if operation_id is not None and not isinstance(operation_id, str):
        raise _fail(f"{where}.operationId", "must be a string")
    return ApiOperation(
        path, verb.upper(), operation_id, description.strip(), parameters, body_schema, body_key
    )


def _parameters(resolver: _Resolver, where: str, raw: list[Any]) -> tuple[ApiParameter, ...]:
    found: dict[tuple[str, str], ApiParameter] = {}
    for i, item in enumerate(raw):
        spot = f"{where}.parameters[{i}]"
        param = resolver.resolve(item, spot)
        if not isinstance(param, dict) or not isinstance(param.get("name"), str) or not param["name"]:
            raise _fail(f"{spot}.name", "is required")
        location = param.get("in")
        if location not in PARAMETER_LOCATIONS:
            raise _fail(f"{spot}.in", f"must be one of {list(PARAMETER_LOCATIONS)}, got {location!r}")
        schema = resolver.inline(param.get("schema", {"type": "string"}), f"{spot}.schema")
        kind = schema.get("type") if isinstance(schema, dict) else None
        if kind not in PARAMETER_TYPES:
            raise _fail(
                f"{spot}.schema.type", f"{kind!r} is not supported; use one of {list(PARAMETER_TYPES)}"
            )
        required = bool(param.get("required")) or location == "path"
        found[(param["name"], location)] = ApiParameter(
            param["name"], location, kind, str(param.get("description") or ""), required, _clean(schema)
        )
    names = [p.name for p in found.values()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _fail(f"{where}.parameters", f"names {duplicates} more than once")
    return tuple(found.values())


def _request_body(resolver: _Resolver, where: str, raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    body = resolver.resolve(raw, f"{where}.requestBody")
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict) or "application/json" not in content:
        raise _fail(f"{where}.requestBody.content", "must have an application/json entry")
    media = content["application/json"] or {}
    schema = resolver.resolve(media.get("schema", {}), f"{where}.requestBody.content.application/json.schema")
    schema = resolver.inline(schema, f"{where}.requestBody.content.application/json.schema")
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise _fail(f"{where}.requestBody.content.application/json.schema.type", "must be object")
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        if kind not in BODY_TYPES:
            raise _fail(
                f"{where}.requestBody.content.application/json.schema.properties.{name}.type",
                f"{kind!r} is not supported; use one of {list(BODY_TYPES)}",
            )
    schema = {**_clean(schema), "type": "object"}
    schema.setdefault("properties", {})
    return schema


# JSON-schema keywords kept in tool schemas (OpenAPI-only ones, like `example`, are dropped)
_KEPT = {
    "type", "description", "enum", "items", "properties", "required", "minimum", "maximum",
    "minLength", "maxLength", "pattern", "minItems", "maxItems", "format", "default",
}  # fmt: skip


def _clean(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k in _KEPT}
    if isinstance(out.get("items"), dict):
        out["items"] = _clean(out["items"])
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: _clean(prop) for name, prop in out["properties"].items()}
    return out


class _Resolver:
    """Local ``$ref`` resolution (``#/components/...``), with depth and cycle limits."""

    def __init__(self, document: dict[str, Any]):
        self.document = document

    def resolve(self, node: Any, where: str, depth: int = 0) -> Any:
        seen: list[str] = []
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise _fail(f"{where}.$ref", f"{ref!r} must be a local reference ('#/components/...')")
            if ref in seen or len(seen) > MAX_REF_DEPTH:
                raise _fail(f"{where}.$ref", f"{ref!r} is circular")
            seen.append(ref)
            node = self._lookup(ref, where)
        return node

    def _lookup(self, ref: str, where: str) -> Any:
        node: Any = self.document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise _fail(f"{where}.$ref", f"{ref!r} does not resolve")
            node = node[part]
        return node

    def inline(self, schema: Any, where: str, depth: int = 0) -> Any:
        """The schema with every nested ``$ref`` replaced (tools need self-contained schemas)."""
        if depth > MAX_REF_DEPTH:
            raise _fail(where, "nests $refs too deeply (or circularly)")
        schema = self.resolve(schema, where)
        if isinstance(schema, dict):
            return {k: self.inline(v, f"{where}.{k}", depth + 1) for k, v in schema.items()}
        if isinstance(schema, list):
            return [self.inline(v, where, depth + 1) for v in schema]
        return schema


def server_url(document: dict[str, Any]) -> str | None:
    """The first ``servers[].url`` (where an HTTP-executed action group sends its calls)."""
    servers = document.get("servers")
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        url = servers[0].get("url")
        return url if isinstance(url, str) else None
    return None
