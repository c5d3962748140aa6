"""OpenAPI action-group schemas → operations → tools (pure functions, table-driven).

$refs into components are resolved (also nested, also in parameters); a parameter whose name a
body property also uses moves the body under ``requestBody``; YAML aliases, circular refs,
unsupported methods and types are refused with the place named; tool names fit Converse's pattern.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from model_layer.agents import openapi
from model_layer.agents.catalog import build_catalog, tool_name
from model_layer.errors import ValidationException

PETS = {
    "openapi": "3.0.1",
    "info": {"title": "pets", "version": "1"},
    "components": {
        "schemas": {
            "Pet": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
                },
                "required": ["name"],
            },
            "Tag": {"type": "string", "enum": ["cat", "dog"]},
        },
        "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}},
    },
    "paths": {
        "/pets": {
            "parameters": [{"$ref": "#/components/parameters/Limit"}],
            "get": {"operationId": "listPets", "summary": "List pets"},
            "post": {
                "description": "Add a pet",
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}
                },
            },
        },
        "/pets/{name}": {
            "put": {
                "description": "Rename a pet",
                "parameters": [{"name": "name", "in": "path", "schema": {"type": "string"}}],
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}
                },
            }
        },
    },
}


def test_operations_resolve_refs_and_flatten_inputs():
    ops = {(o.verb, o.api_path): o for o in openapi.operations(PETS)}
    listing = ops[("GET", "/pets")]
    assert listing.operation_id == "listPets" and listing.description == "List pets"  # summary as description
    assert [(p.name, p.location, p.type) for p in listing.parameters] == [("limit", "query", "integer")]
    add = ops[("POST", "/pets")].input_schema()
    assert set(add["properties"]) == {"limit", "name", "tags"} and add["required"] == ["name"]
    assert add["properties"]["tags"] == {"type": "array", "items": {"type": "string", "enum": ["cat", "dog"]}}
    rename = ops[("PUT", "/pets/{name}")]
    assert rename.body_key == "requestBody"  # `name` is a path parameter and a body property
    schema = rename.input_schema()
    assert schema["required"] == ["name", "requestBody"] and schema["properties"]["requestBody"][
        "required"
    ] == ["name"]


def test_tools_from_an_api_group_fit_converse_names():
    group = {"actionGroupName": "pet-store", "_openapi": PETS}
    names = [t.name for t in build_catalog({"actionGroups": [group]}).tools]
    assert names == ["pet-store__listPets", "pet-store__post_pets", "pet-store__put_pets_name"]
    long = tool_name("a" * 80, "b" * 40)
    assert len(long) == 64 and re.fullmatch(r"[a-zA-Z0-9_-]+", long)
    assert tool_name("a" * 80, "b" * 40) != tool_name("a" * 80, "c" * 40)


def test_yaml_and_json_payloads_parse_the_same():
    assert openapi.parse_payload(yaml.safe_dump(PETS)) == openapi.parse_payload(json.dumps(PETS))


BAD = [
    ("yaml alias", "a: &x [1]\nb: *x\n", "must not use YAML aliases"),
    ("not an object", "[1, 2]", "must be an OpenAPI document"),
    ("no paths", json.dumps({"openapi": "3.0.0", "paths": {}}), "paths must define at least one path"),
    (
        "relative path",
        json.dumps({"openapi": "3.0.0", "paths": {"pets": {}}}),
        "paths.pets must start with '/'",
    ),
    (
        "head only",
        json.dumps({"openapi": "3.0.0", "paths": {"/x": {"head": {"description": "x"}}}}),
        "unsupported methods",
    ),
    (
        "circular ref",
        json.dumps(
            {
                "openapi": "3.0.0",
                "components": {
                    "parameters": {
                        "A": {"$ref": "#/components/parameters/B"},
                        "B": {"$ref": "#/components/parameters/A"},
                    }
                },
                "paths": {
                    "/x": {"get": {"description": "x", "parameters": [{"$ref": "#/components/parameters/A"}]}}
                },
            }
        ),
        "is circular",
    ),
    (
        "remote ref",
        json.dumps(
            {
                "openapi": "3.0.0",
                "paths": {"/x": {"get": {"description": "x", "parameters": [{"$ref": "http://evil/x"}]}}},
            }
        ),
        "must be a local reference",
    ),
    (
        "cookie parameter",
        json.dumps(
            {
                "openapi": "3.0.0",
                "paths": {"/x": {"get": {"description": "x", "parameters": [{"name": "c", "in": "cookie"}]}}},
            }
        ),
        r"parameters\[0\]\.in must be one of",
    ),
    (
        "xml body",
        json.dumps(
            {
                "openapi": "3.0.0",
                "paths": {
                    "/x": {"post": {"description": "x", "requestBody": {"content": {"application/xml": {}}}}}
                },
            }
        ),
        "must have an application/json entry",
    ),
    (
        "duplicate parameter names",
        json.dumps(
            {
                "openapi": "3.0.0",
                "paths": {
                    "/x/{id}": {
                        "get": {
                            "description": "x",
                            "parameters": [{"name": "id", "in": "path"}, {"name": "id", "in": "query"}],
                        }
                    }
                },
            }
        ),
        r"names \['id'\] more than once",
    ),
]


@pytest.mark.parametrize(("case", "payload", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_schemas_name_the_place(case, payload, message):
    with pytest.raises(ValidationException, match=message) as caught:
        openapi.operations(openapi.parse_payload(payload))
    assert caught.value.message.startswith("apiSchema.payload:")
