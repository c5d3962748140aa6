"""Tool use for models without native tool calling, by grammar-constrained JSON.

SmolLM2's chat template ignores ``tools``, so the gateway describes the tools in the system prompt
and constrains the output with a JSON-schema grammar (llama.cpp ``response_format``):

- ``toolChoice`` ``any`` / ``tool``: the answer must be ``{"name": <tool>, "input": <its schema>}``
  (one ``anyOf`` branch per allowed tool, so ``input`` matches *that* tool's inputSchema);
- ``auto`` (or none): a union of that and ``{"answer": <text>}``; the model chooses.

:class:`ConstrainedOutput` turns the generated JSON back into Converse events: a tool call becomes
``BlockStart(toolUse)`` + ``BlockDelta(tool_input)`` + ``stop_reason = tool_use``; an ``answer``
is streamed as text while it is generated (its JSON string is decoded incrementally).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from model_layer.errors import ValidationException
from model_layer.providers.common import new_tool_use_id
from model_layer.types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ChatRequest,
    MessageStop,
    StopReason,
    StreamEvent,
    ToolSpec,
    ToolUseStart,
)

_FIRST_KEY = re.compile(r'\s*\{\s*"(answer|name)"\s*:\s*')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def allowed_tools(request: ChatRequest) -> tuple[list[ToolSpec], bool]:
    """The tools the model may call and whether it may answer in text instead."""
    choice = request.tool_choice or {"auto": {}}
    if "tool" in choice:
        name = choice["tool"].get("name")
        named = [t for t in request.tools if t.name == name]
        if not named:
            raise ValidationException(f"toolChoice names tool {name!r}, which is not in toolConfig.tools")
        return named, False
    return list(request.tools), "any" not in choice


def tool_prompt(tools: list[ToolSpec], may_answer: bool) -> str:
    """System-prompt text that tells the model which tools exist and how to call them."""
    lines = ['You can call tools. To call one, reply with JSON: {"name": <tool name>, "input": <arguments>}.']
    if may_answer:
        lines.append('To answer the user directly instead, reply with JSON: {"answer": <your answer>}.')
    lines.append("Tools:")
    for tool in tools:
        schema = json.dumps(tool.input_schema, separators=(",", ":"))
        lines.append(f"- {tool.name}: {tool.description or tool.name} Input schema: {schema}")
    return "\n".join(lines)


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def call_schema(tools: list[ToolSpec], may_answer: bool, answer_schema: dict | None = None) -> dict:
    """The JSON schema the grammar enforces: one branch per tool (+ the answer branch)."""
    branches = [
        _object({"name": {"const": t.name}, "input": t.input_schema or {"type": "object"}}) for t in tools
    ]
    if may_answer:
        branches.insert(0, _object({"answer": answer_schema or {"type": "string"}}))
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


@dataclass
class ConstrainedOutput:
    """Incremental parser of the constrained output → Converse events (one block, index 0)."""

    stream_answer: bool = True  # False when the answer is itself JSON (json_schema + tools)
    _buffer: str = ""
    _mode: str | None = None  # None until the first key is known; then "answer" | "name"
    _cursor: int = 0  # position in _buffer of the next undecoded answer character
    _in_string: bool = False
    _answer_done: bool = False
    _emitted: bool = False

    def feed(self, text: str) -> list[StreamEvent]:
        self._buffer += text
        if self._mode is None:
            match = _FIRST_KEY.match(self._buffer)
            if not match:
                return []
            self._mode, self._cursor = match.group(1), match.end()
        if self._mode == "answer" and self.stream_answer and not self._answer_done:
            return self._decode_answer()
        return []

    def _decode_answer(self) -> list[StreamEvent]:
        buf = self._buffer
        if not self._in_string:
            if self._cursor >= len(buf):
                return []
            if buf[self._cursor] != '"':  # not a string after all: buffer and emit at the end
                self.stream_answer = False
                return []
            self._cursor += 1
            self._in_string = True
        i, out = self._cursor, []
        while i < len(buf):
            char = buf[i]
            if char == '"':
                self._answer_done = True
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(buf) or (buf[i + 1] == "u" and i + 6 > len(buf)):
                break  # an escape split across chunks: wait for the rest
            if buf[i + 1] == "u":
                out.append(chr(int(buf[i + 2 : i + 6], 16)))
                i += 6
            else:
                out.append(_ESCAPES.get(buf[i + 1], buf[i + 1]))
                i += 2
        self._cursor = i
        if not out:
            return []
        self._emitted = True
        return [BlockDelta(0, text="".join(out))]

    def finish(self, finish_reason: str | None) -> list[StreamEvent]:
        """Events that close the message, given the upstream's finish reason."""
        truncated = finish_reason == "length"
        try:
            value = json.loads(self._buffer)
        except json.JSONDecodeError:
            value = None
        if self._mode == "answer" and self.stream_answer:
            stop: StopReason = "max_tokens" if truncated else "end_turn"
            return [BlockStop(0), MessageStop(stop)] if self._emitted else [MessageStop(stop)]
        if isinstance(value, dict) and "answer" in value:
            answer = value["answer"]
            text = answer if isinstance(answer, str) else json.dumps(answer)
            return [BlockDelta(0, text=text), BlockStop(0), MessageStop("end_turn")]
        if isinstance(value, dict) and "name" in value:
            start = BlockStart(0, ToolUseStart(new_tool_use_id(), value["name"]))
            arguments = json.dumps(value.get("input", {}))
            return [start, BlockDelta(0, tool_input=arguments), BlockStop(0), MessageStop("tool_use")]
        return [MessageStop("max_tokens" if truncated else "malformed_tool_use")]
