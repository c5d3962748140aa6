"""An agent's tools: its action groups' functions and API operations, its knowledge bases, user input.

Built from a prepared snapshot (or an inline agent's request) for every invocation. Each tool is a
Converse ``ToolSpec`` (so every provider sees the same tools: natively where it calls tools,
grammar-constrained JSON on the embedded model) plus what the loop needs to run it. Tool names
follow Converse's pattern (``[a-zA-Z0-9_-]{1,64}``): ``<actionGroup>__<function>``,
``<actionGroup>__<operationId or verb_path>``, ``knowledge_base_<id>``, ``user_input``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from model_layer.agents import openapi
from model_layer.agents.definitions import USER_INPUT
from model_layer.types import ToolSpec

ToolKind = Literal["function", "api", "knowledge_base", "user_input"]
USER_INPUT_TOOL = "user_input"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass
class Tool:
    spec: ToolSpec
    kind: ToolKind
    group: dict[str, Any] | None = None  # the action group's stored body
    function: str | None = None
    param_types: dict[str, str] = field(default_factory=dict)  # function parameters' declared types
    operation: openapi.ApiOperation | None = None
    knowledge_base: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def returns_control(self) -> bool:
        executor = (self.group or {}).get("actionGroupExecutor") or {}
        return executor.get("customControl") == "RETURN_CONTROL"


@dataclass
class Catalog:
    tools: list[Tool]

    def get(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    @property
    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self.tools]


def tool_name(*parts: str) -> str:
    """A Converse tool name from its parts; long names keep a hash so they stay unique."""
    # "__" separates the parts, so a part never contains it ("post /pets/{id}" -> "post_pets_id")
    name = "__".join(re.sub("_+", "_", _UNSAFE.sub("_", p)).strip("_") or "x" for p in parts)
    if len(name) <= 64:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:55]}_{digest}"


def build_catalog(snapshot: dict[str, Any]) -> Catalog:
    tools: list[Tool] = []
    for group in snapshot.get("actionGroups", []):
        if group.get("actionGroupState", "ENABLED") != "ENABLED":
            continue
        if group.get("parentActionGroupSignature") == USER_INPUT:
            tools.append(_user_input_tool())
        elif "functionSchema" in group:
            tools.extend(_function_tools(group))
        elif "_openapi" in group:
            tools.extend(_api_tools(group))
    for kb in snapshot.get("knowledgeBases", []):
        if kb.get("knowledgeBaseState", "ENABLED") == "ENABLED":
            tools.append(_knowledge_base_tool(kb))
    return Catalog(tools)


def _function_tools(group: dict[str, Any]) -> list[Tool]:
    tools = []
    for function in group["functionSchema"]["functions"]:
        properties, required, types = {}, [], {}
        for name, detail in (function.get("parameters") or {}).items():
            prop: dict[str, Any] = {"type": detail["type"]}
            if detail.get("description"):
                prop["description"] = detail["description"]
            properties[name], types[name] = prop, detail["type"]
            if detail.get("required"):
                required.append(name)
        schema = {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
        description = function.get("description") or group.get("description") or function["name"]
        spec = ToolSpec(tool_name(group["actionGroupName"], function["name"]), description, schema)
        tools.append(Tool(spec, "function", group=group, function=function["name"], param_types=types))
    return tools


def _api_tools(group: dict[str, Any]) -> list[Tool]:
    tools = []
    for op in openapi.operations(group["_openapi"]):
        suffix = op.operation_id or f"{op.verb.lower()}_{op.api_path}"
        spec = ToolSpec(tool_name(group["actionGroupName"], suffix), op.description, op.input_schema())
        tools.append(Tool(spec, "api", group=group, operation=op))
    return tools


def _knowledge_base_tool(kb: dict[str, Any]) -> Tool:
    schema = {
        "type": "object",
        "properties": {"searchQuery": {"type": "string", "description": "What to look up"}},
        "required": ["searchQuery"],
        "additionalProperties": False,
    }
    description = f"Search the knowledge base: {kb.get('description') or kb['knowledgeBaseId']}"
    return Tool(
        ToolSpec(tool_name(f"knowledge_base_{kb['knowledgeBaseId']}"), description, schema),
        "knowledge_base",
        knowledge_base=kb,
    )


def _user_input_tool() -> Tool:
    schema = {
        "type": "object",
        "properties": {"question": {"type": "string", "description": "The question to ask the user"}},
        "required": ["question"],
        "additionalProperties": False,
    }
    description = "Ask the user for information you need and do not have"
    return Tool(ToolSpec(USER_INPUT_TOOL, description, schema), "user_input")
