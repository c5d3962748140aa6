"""Amazon Bedrock pass-through: the gateway's Converse request goes to Bedrock with boto3.

The internal request already has Converse's shapes, so the translation is small and pure
(:func:`converse_kwargs`, :func:`event_from_bedrock`). Embeddings use InvokeModel with the
model's native body (Titan or Cohere, from ``native_format``); token counts use CountTokens.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field

from infrastructure.runtime.bridge import iterate_in_thread, run_in_thread
from model_layer.config import ModelConfig, ProviderConfigBase
from model_layer.errors import ValidationException
from model_layer.providers.aws import aws_error, decode_blobs, make_client
from model_layer.providers.base import ProviderPlugin
from model_layer.providers.common import model_info
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
    ToolUseStart,
    Usage,
)


class BedrockProviderConfig(ProviderConfigBase):
    """Amazon Bedrock itself (pass-through with boto3 ``converse_stream``)."""

    type: Literal["bedrock"]
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    timeout_s: float = Field(120.0, gt=0)


def converse_kwargs(request: ChatRequest) -> dict[str, Any]:
    """ChatRequest → boto3 ``converse_stream`` keyword arguments."""
    kwargs: dict[str, Any] = {"modelId": request.model_id, "messages": decode_blobs(request.messages)}
    if request.system:
        kwargs["system"] = decode_blobs(request.system)
    inference = {
        "maxTokens": request.max_tokens,
        "temperature": request.temperature,
        "topP": request.top_p,
        "stopSequences": request.stop_sequences or None,
    }
    inference = {k: v for k, v in inference.items() if v is not None}
    if inference:
        kwargs["inferenceConfig"] = inference
    if request.tools:
        tools = [
            {"toolSpec": {"name": t.name, "inputSchema": {"json": t.input_schema}}} for t in request.tools
        ]
        for tool, spec in zip(tools, request.tools, strict=True):
            if spec.description:
                tool["toolSpec"]["description"] = spec.description
        kwargs["toolConfig"] = {"tools": tools}
        if request.tool_choice:
            kwargs["toolConfig"]["toolChoice"] = request.tool_choice
    if request.extra:
        kwargs["additionalModelRequestFields"] = request.extra
    if request.json_schema is not None:
        structure = {"jsonSchema": {"schema": json.dumps(request.json_schema), "name": "response"}}
        kwargs["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": structure}}
    return kwargs


def usage_from_bedrock(usage: dict[str, Any]) -> Usage:
    return Usage(
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        cache_read_input_tokens=int(usage.get("cacheReadInputTokens", 0)),
        cache_write_input_tokens=int(usage.get("cacheWriteInputTokens", 0)),
    )


def event_from_bedrock(event: dict[str, Any]) -> StreamEvent | None:
    """One boto3 ConverseStream event → an internal event (None for ones we don't carry)."""
    if "messageStart" in event:
        return MessageStart(event["messageStart"].get("role", "assistant"))
    if "contentBlockStart" in event:
        body = event["contentBlockStart"]
        use = body.get("start", {}).get("toolUse")
        tool = ToolUseStart(use["toolUseId"], use["name"]) if use else None
        return BlockStart(body["contentBlockIndex"], tool) if tool else None
    if "contentBlockDelta" in event:
        body = event["contentBlockDelta"]
        index, delta = body["contentBlockIndex"], body["delta"]
        if "text" in delta:
            return BlockDelta(index, text=delta["text"])
        if "toolUse" in delta:
            return BlockDelta(index, tool_input=delta["toolUse"].get("input", ""))
        reasoning = delta.get("reasoningContent", {})
        return BlockDelta(index, reasoning=reasoning["text"]) if "text" in reasoning else None
    if "contentBlockStop" in event:
        return BlockStop(event["contentBlockStop"]["contentBlockIndex"])
    if "messageStop" in event:
        body = event["messageStop"]
        return MessageStop(body["stopReason"], body.get("additionalModelResponseFields"))
    if "metadata" in event:
        body = event["metadata"]
        latency = int(body.get("metrics", {}).get("latencyMs", 0))
        return Metadata(usage_from_bedrock(body.get("usage", {})), latency)
    return None


class BedrockProvider:
    name: ClassVar[str] = "bedrock"
    supports_tools: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = True

    def __init__(
        self, config: BedrockProviderConfig, models: list[ModelConfig] | None = None, *, client=None
    ):
        self.config = config
        self._models = models or []
        self._formats = {m.upstream or m.id: m.native_format for m in self._models}
        self.client = client or make_client(
            "bedrock-runtime",
            region=config.region,
            endpoint_url=config.endpoint_url,
            timeout_s=config.timeout_s,
            profile=config.profile,
        )

    def models(self) -> list[ModelInfo]:
        return [model_info(m, "Amazon Bedrock") for m in self._models]

    def _events(self, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        response = self.client.converse_stream(**kwargs)
        stream = response["stream"]
        try:
            yield from stream
        finally:
            stream.close()  # a closed consumer releases the HTTP connection

    async def converse_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        kwargs = converse_kwargs(request)
        what = f"Bedrock model {request.model_id}"
        try:
            async for raw in iterate_in_thread(lambda: self._events(kwargs)):
                event = event_from_bedrock(raw)
                if event is not None:
                    yield event
        except Exception as exc:
            raise aws_error(exc, what, request.request_id) from None

    async def embed(self, model_id: str, texts: list[str]) -> EmbeddingResult:
        fmt = self._formats.get(model_id, "titan-embed")
        try:
            if fmt == "cohere-embed":
                body = {"texts": texts, "input_type": "search_document"}
                payload = await run_in_thread(self._invoke, model_id, body)
                vectors = payload["embeddings"]
                vectors = vectors["float"] if isinstance(vectors, dict) else vectors
                return EmbeddingResult(vectors, sum(len(t.split()) for t in texts))
            if fmt != "titan-embed":
                raise ValidationException(
                    f"Bedrock embeddings need native_format titan-embed or cohere-embed, not {fmt}"
                )
            vectors, tokens = [], 0
            for text in texts:  # Titan embeds one text per call
                payload = await run_in_thread(self._invoke, model_id, {"inputText": text})
                vectors.append(payload["embedding"])
                tokens += int(payload.get("inputTextTokenCount", 0))
            return EmbeddingResult(vectors, tokens)
        except Exception as exc:
            raise aws_error(exc, f"Bedrock model {model_id}") from None

    def _invoke(self, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.invoke_model(
            modelId=model_id, body=json.dumps(body), contentType="application/json", accept="application/json"
        )
        return json.loads(response["body"].read())

    async def count_tokens(self, request: ChatRequest) -> int:
        kwargs = converse_kwargs(request)
        converse = {k: kwargs[k] for k in ("messages", "system", "toolConfig") if k in kwargs}
        try:
            response = await run_in_thread(
                lambda: self.client.count_tokens(modelId=request.model_id, input={"converse": converse})
            )
        except Exception as exc:
            raise aws_error(exc, f"Bedrock model {request.model_id}") from None
        return int(response["inputTokens"])

    async def aclose(self) -> None:
        self.client.close()


PLUGIN = ProviderPlugin(
    type="bedrock", display_name="Amazon Bedrock", config=BedrockProviderConfig, factory=BedrockProvider
)
