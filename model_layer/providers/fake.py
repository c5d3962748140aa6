"""A deterministic provider for tests and demos: answers are derived from the input.

- chat: echoes the last user text (``"You said: ..."``), streamed one word per delta; a fixed
  ``reply`` can be configured; stop sequences cut the answer as a model's would; when tools
  are offered (and the conversation does not end with a tool result) it calls a tool with input
  built from the tool's JSON schema; with a JSON schema it answers an instance of that schema;
- tokens are whitespace-separated words (input = all message and system text);
- embeddings are hashed, L2-normalised vectors (same text → same vector);
- behaviour for resilience tests: fail the first N calls with a given error code (before the
  first event, or mid-stream), delay the first event or every event. ``calls`` counts attempts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

from pydantic import Field

from model_layer.config import ModelConfig, ProviderConfigBase
from model_layer.errors import GatewayError, InternalServerException
from model_layer.providers.base import ProviderPlugin
from model_layer.providers.common import (
    ERRORS_BY_CODE,
    block_text,
    elapsed_ms,
    has_tool_result_last,
    last_user_text,
    model_info,
    new_tool_use_id,
)
from model_layer.types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ChatRequest,
    EmbeddingResult,
    MessageStart,
    MessageStop,
    Metadata,
    ModelInfo,
    StreamEvent,
    ToolSpec,
    ToolUseStart,
    Usage,
)


class FakeProviderConfig(ProviderConfigBase):
    """Deterministic echo model for tests and demos (see ``providers/fake.py``)."""

    type: Literal["fake"]
    reply: str | None = None  # fixed answer; None = echo the last user text
    fail_times: int = Field(0, ge=0)  # the first N calls fail with `fail_with`
    fail_with: str = "ThrottlingException"
    fail_mid_stream: bool = False  # fail after the first event instead of before
    delay_s: float = Field(0.0, ge=0)  # before the first event
    chunk_delay_s: float = Field(0.0, ge=0)  # between events
    embedding_dimensions: int = Field(384, ge=1, le=8192)


class FakeProvider:
    name: ClassVar[str] = "fake"
    supports_tools: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = True

    def __init__(self, config: FakeProviderConfig, models: list[ModelConfig] | None = None):
        self.config = config
        self._models = models or []
        self.calls = 0  # attempts, including failed ones
        self._failures_left = config.fail_times

    def models(self) -> list[ModelInfo]:
        return [model_info(m, "Strata (fake)") for m in self._models]

    def _maybe_fail(self) -> GatewayError | None:
        if self._failures_left <= 0:
            return None
        self._failures_left -= 1
        cls = ERRORS_BY_CODE.get(self.config.fail_with, InternalServerException)
        return cls(f"fake provider {self.config.name}: injected {cls.code}")

    async def converse_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.calls += 1
        started = time.monotonic()
        failure = self._maybe_fail()
        if failure is not None and not self.config.fail_mid_stream:
            raise failure
        if self.config.delay_s:
            await asyncio.sleep(self.config.delay_s)
        yield MessageStart()
        if failure is not None:
            raise failure
        events, output_tokens = self._answer(request)
        for event in events:
            if self.config.chunk_delay_s:
                await asyncio.sleep(self.config.chunk_delay_s)
            yield event
        usage = Usage(input_tokens=count_words(request), output_tokens=output_tokens)
        yield Metadata(usage=usage, latency_ms=elapsed_ms(started))

    def _answer(self, request: ChatRequest) -> tuple[list[StreamEvent], int]:
        tool = choose_tool(request)
        if tool is not None:
            arguments = json.dumps(example_from_schema(tool.input_schema, last_user_text(request)))
            start = BlockStart(0, ToolUseStart(new_tool_use_id(), tool.name))
            events: list[StreamEvent] = [start, BlockDelta(0, tool_input=arguments), BlockStop(0)]
            return [*events, MessageStop("tool_use")], len(arguments.split())
        if request.json_schema is not None:
            text = json.dumps(example_from_schema(request.json_schema, last_user_text(request)))
        else:
            text = self.config.reply or f"You said: {last_user_text(request)}"
        text, matched = cut_at_stop_sequence(text, request.stop_sequences)
        words = text.split(" ")
        if request.max_tokens is not None and len(words) > request.max_tokens:
            words, matched, stop = words[: request.max_tokens], None, "max_tokens"
        else:
            stop = "end_turn" if matched is None else "stop_sequence"
        deltas = [BlockDelta(0, text=w if i == 0 else " " + w) for i, w in enumerate(words)]
        fields = None if matched is None else {"stop_sequence": matched}
        return [*deltas, BlockStop(0), MessageStop(stop, fields)], len(words)

    async def embed(self, model_id: str, texts: list[str]) -> EmbeddingResult:
        self.calls += 1
        failure = self._maybe_fail()
        if failure is not None:
            raise failure
        dims = self.config.embedding_dimensions
        vectors = [hashed_vector(text, dims) for text in texts]
        return EmbeddingResult(vectors, sum(len(t.split()) for t in texts))

    async def count_tokens(self, request: ChatRequest) -> int:
        return count_words(request)

    async def aclose(self) -> None:
        return None


def cut_at_stop_sequence(text: str, stop_sequences: list[str]) -> tuple[str, str | None]:
    """``text`` up to the earliest stop sequence in it (excluded), and that sequence (or None)."""
    hits = [(text.find(s), s) for s in stop_sequences if s and s in text]
    if not hits:
        return text, None
    at, matched = min(hits)
    return text[:at], matched


def count_words(request: ChatRequest) -> int:
    texts = [block_text(b) for b in request.system]
    for message in request.messages:
        texts.extend(block_text(b) for b in message.get("content", []))
    return sum(len(t.split()) for t in texts)


def choose_tool(request: ChatRequest) -> ToolSpec | None:
    """The tool the fake calls: the named one, else the first; none after a tool result."""
    if not request.tools or has_tool_result_last(request):
        return None
    choice = request.tool_choice or {"auto": {}}
    if "tool" in choice:
        return next((t for t in request.tools if t.name == choice["tool"]["name"]), None)
    return request.tools[0]


def example_from_schema(schema: dict[str, Any], text: str) -> Any:
    """A deterministic instance of a JSON schema (the subset tools use)."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return example_from_schema(schema[key][0], text)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        required = schema.get("required", list(props))
        return {k: example_from_schema(props[k], text) for k in required if k in props}
    if kind == "array":
        return [example_from_schema(schema.get("items", {"type": "string"}), text)]
    simple = {"string": text, "integer": len(text.split()), "number": float(len(text.split()))}
    return simple.get(kind, True if kind == "boolean" else None)


def hashed_vector(text: str, dims: int) -> list[float]:
    """A unit vector from SHA-256 of the text: stable across runs and machines."""
    out: list[float] = []
    counter = 0
    while len(out) < dims:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    out = out[:dims]
    norm = math.sqrt(sum(v * v for v in out)) or 1.0
    return [v / norm for v in out]


PLUGIN = ProviderPlugin(
    type="fake", display_name="Strata (fake)", config=FakeProviderConfig, factory=FakeProvider
)
