"""The OpenAI chat-completions body family for InvokeModel (Bedrock's ``openai.gpt-oss-*`` format).

Request ``{"messages", "max_completion_tokens"?, "temperature"?, "tools"?, …}`` (``model`` optional:
the path names the model) → ``chat.completion``; the stream sends ``chat.completion.chunk``
objects, the last one carrying ``finish_reason``, usage and the invocation metrics. The
translations themselves are the ``/v1`` API's (``model_layer.wire.openai``), so both entry
points treat an OpenAI body the same way.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

import pydantic

from model_layer.errors import ValidationException
from model_layer.types import (
    ChatRequest,
    ChatResponse,
    MessageStart,
    MessageStop,
    Metadata,
    ModelInfo,
    StreamEvent,
)
from model_layer.wire.native import ChunkStream
from model_layer.wire.openai import (
    ChatCompletionRequest,
    ChunkTranslator,
    chat_request_from_openai,
    completion_from_response,
)

_OPENAI_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["messages"],
    "properties": {"messages": {"type": "array", "minItems": 1}, "stream": {"type": "boolean"}},
}


class OpenAIChat:
    name: ClassVar[str] = "openai"
    kind: ClassVar[str] = "chat"
    schema: ClassVar[dict[str, Any]] = _OPENAI_SCHEMA

    def to_request(self, model_id: str, body: dict[str, Any]) -> ChatRequest:
        try:
            parsed = ChatCompletionRequest.model_validate({**body, "model": body.get("model") or model_id})
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = "#" + "".join(f"/{p}" for p in first["loc"])
            raise ValidationException(
                f"Malformed input request: {where}: {first['msg']}, please reformat your input and try again."
            ) from None
        request = chat_request_from_openai(parsed)
        request.model_id = model_id  # the path names the model, whatever the body says
        return request

    def to_response(self, model: ModelInfo, response: ChatResponse) -> dict[str, Any]:
        return completion_from_response(
            response, model=model.model_id, completion_id=_completion_id(), created=int(time.time())
        )

    def stream(self, model: ModelInfo) -> ChunkStream:
        return _OpenAIStream(model)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


class _OpenAIStream:
    """``chat.completion.chunk`` objects. The finish chunk is held back until usage is known and
    sent last with ``usage`` on it, so the invocation metrics ride on the chunk that carries
    ``finish_reason`` (where Bedrock puts them, and where langchain's ChatBedrock reads them).
    """

    def __init__(self, model: ModelInfo):
        self.translator = ChunkTranslator(
            model=model.model_id, completion_id=_completion_id(), created=int(time.time()), include_usage=True
        )
        self.finish: list[dict[str, Any]] = []

    def translate(self, event: StreamEvent) -> list[dict[str, Any]]:
        if isinstance(event, MessageStart):
            return [self.translator.first()]
        if isinstance(event, MessageStop):
            self.finish = self.translator.translate(event)
            return []
        if isinstance(event, Metadata):
            usage = self.translator.translate(event)[0]["usage"]
            final = self.finish[-1] if self.finish else {**self.translator.first(), "choices": []}
            return [*self.finish[:-1], {**final, "usage": usage}]
        return self.translator.translate(event)
