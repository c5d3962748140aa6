"""The provider seam: one small Protocol every backend implements.

A provider knows *where* and *how* to reach a model (pydantic-ai's split): the local llama.cpp
runtime, a SageMaker endpoint, Amazon Bedrock, any OpenAI-compatible server, or the
deterministic fake used by tests. Capabilities are data (class attributes), not ``if`` chains.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar, Protocol, runtime_checkable

from model_layer.types import ChatRequest, EmbeddingResult, ModelInfo, StreamEvent


@runtime_checkable
class Provider(Protocol):
    """One backend. ``model_id`` arguments are the *provider's* model names after routing."""

    name: ClassVar[str]  # registry key, e.g. "local", "sagemaker", "bedrock", "openai", "fake"
    supports_tools: ClassVar[bool]
    supports_embeddings: ClassVar[bool]

    def models(self) -> list[ModelInfo]:
        """Models this provider instance serves (gateway ids)."""
        ...

    def converse_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one assistant turn. Raise ``model_layer.errors.GatewayError`` subclasses."""
        ...

    async def embed(self, model_id: str, texts: list[str]) -> EmbeddingResult: ...

    async def count_tokens(self, request: ChatRequest) -> int: ...

    async def aclose(self) -> None: ...
