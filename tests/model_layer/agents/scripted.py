"""A scripted chat model for agent tests: a provider whose next answer is given by the test.

It is a real provider object (the ``Provider`` protocol) routed by the real ``ModelRouter`` and
called through the real ``ModelService``, so everything but the model's choice of words is the
production path. Each call pops the next answer from a queue, or asks a policy function; an answer
is a list of Converse blocks (``{"text": ...}`` / ``{"toolUse": {"name": ..., "input": {...}}}``).
Every request it got is kept in ``requests`` so tests can check what the loop sent.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from model_layer.providers.common import new_tool_use_id
from model_layer.types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    ChatRequest,
    EmbeddingResult,
    MessageStart,
    MessageStop,
    Metadata,
    StreamEvent,
    ToolUseStart,
    Usage,
)

Answer = list[dict[str, Any]]
Policy = Callable[[ChatRequest], Answer]


def text(value: str) -> Answer:
    return [{"text": value}]


def call(name: str, arguments: dict[str, Any] | None = None, *, say: str | None = None) -> Answer:
    blocks: Answer = [{"text": say}] if say else []
    return [*blocks, {"toolUse": {"name": name, "input": arguments or {}}}]


def calls(*pairs: tuple[str, dict[str, Any]]) -> Answer:
    return [{"toolUse": {"name": name, "input": arguments}} for name, arguments in pairs]


class ScriptedProvider:
    name: ClassVar[str] = "scripted"
    supports_tools: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = False

    def __init__(self, policy: Policy | None = None):
        self.queue: deque[Answer] = deque()
        self.policy = policy
        self.requests: list[ChatRequest] = []

    def script(self, *answers: Answer) -> None:
        self.queue.extend(answers)

    def models(self) -> list:
        return []

    def _next(self, request: ChatRequest) -> Answer:
        if self.queue:
            return self.queue.popleft()
        if self.policy is not None:
            return self.policy(request)
        return text("(no more scripted answers)")

    async def converse_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        answer = self._next(request)
        yield MessageStart()
        used_tool = False
        for index, block in enumerate(answer):
            if "toolUse" in block:
                used_tool = True
                use = block["toolUse"]
                yield BlockStart(index, ToolUseStart(use.get("toolUseId") or new_tool_use_id(), use["name"]))
                yield BlockDelta(index, tool_input=json.dumps(use.get("input", {})))
            else:
                yield BlockDelta(index, text=block["text"])
            yield BlockStop(index)
        yield MessageStop("tool_use" if used_tool else "end_turn")
        words = sum(len(json.dumps(m).split()) for m in request.messages)
        yield Metadata(Usage(input_tokens=words, output_tokens=len(json.dumps(answer).split())))

    async def embed(self, model_id: str, texts: list[str]) -> EmbeddingResult:
        raise NotImplementedError

    async def count_tokens(self, request: ChatRequest) -> int:
        return 1

    async def aclose(self) -> None:
        return None
