"""Request-body schemas for the OpenAPI document, for routes that parse their bodies themselves.

Every route reads its raw body and parses it strictly (:mod:`~model_layer.wire.json_body`), so
FastAPI cannot infer a request body; without one, ``/openapi.json`` documents none and schema-driven
fuzzing (schemathesis) never sends one. This module supplies what the routes declare through
``openapi_extra``:

- :func:`bedrock_body_schema`: the JSON Schema of an AWS operation's body members, translated from
  botocore's service model (the authority for AWS shapes; recursive shapes become ``{}``);
- :func:`model_schema`: a pydantic model's JSON Schema with its ``$defs`` inlined (an operation's
  schema cannot carry ``$defs`` of its own in an OpenAPI document);
- :func:`request_body`: the ``openapi_extra`` that declares a required JSON body.
"""

from __future__ import annotations

import functools
from typing import Any

from botocore.model import Shape
from pydantic import BaseModel

from model_layer.wire.validate import operation_model

BASE64 = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring a required ``application/json`` body with ``schema``."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@functools.cache
def bedrock_body_schema(service: str, operation: str) -> dict[str, Any]:
    """JSON Schema of ``operation``'s JSON body (members bound to no URI, query or header)."""
    shape = operation_model(service, operation).input_shape
    payload = shape.serialization.get("payload")
    members = {
        name: member
        for name, member in shape.members.items()
        if "location" not in member.serialization and name != payload
    }
    properties = {name: _schema(member, (shape.name,)) for name, member in members.items()}
    required = [name for name in shape.required_members if name in members]
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def _schema(shape: Shape, seen: tuple[str, ...]) -> dict[str, Any]:
    if shape.metadata.get("document") or shape.name in seen:
        return {}  # free-form JSON, or a recursive shape: any value
    seen = (*seen, shape.name)
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, seen)
    if kind == "list":
        return {"type": "array", "items": _schema(shape.member, seen), **_bounds(shape, "Items")}
    if kind == "map":
        value = _schema(shape.value, seen)
        return {"type": "object", "additionalProperties": value, **_bounds(shape, "Properties")}
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        return {"type": "integer", **_bounds(shape, "imum")}
    if kind in ("float", "double"):
        return {"type": "number", **_bounds(shape, "imum")}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "blob":
        return {"type": "string", "pattern": BASE64}
    if kind == "timestamp":
        return {"type": ["string", "number"]}
    return {}


def _structure(shape: Shape, seen: tuple[str, ...]) -> dict[str, Any]:
    properties = {name: _schema(member, seen) for name, member in shape.members.items()}
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if shape.metadata.get("union"):
        out.update(minProperties=1, maxProperties=1)  # exactly one member set
    elif shape.required_members:
        out["required"] = list(shape.required_members)
    return out


def _string(shape: Shape) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", **_bounds(shape, "Length")}
    if shape.metadata.get("enum"):
        out["enum"] = list(shape.metadata["enum"])
    elif shape.metadata.get("pattern"):
        out["pattern"] = f"^(?:{shape.metadata['pattern']})$"  # AWS patterns match whole values
    return out


def _bounds(shape: Shape, suffix: str) -> dict[str, Any]:
    """botocore's min/max as ``minLength``/``maxItems``/``minimum``… (``suffix`` picks the kind)."""
    names = ("minimum", "maximum") if suffix == "imum" else (f"min{suffix}", f"max{suffix}")
    out = {}
    for key, name in zip(("min", "max"), names, strict=True):
        if shape.metadata.get(key) is not None:
            out[name] = shape.metadata[key]
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema with every ``#/$defs/...`` reference replaced by its definition."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)
