"""The provider seam: one small Protocol every backend implements.

A provider knows *where* and *how* to reach a model (pydantic-ai's split): the local llama.cpp
runtime, a SageMaker endpoint, Amazon Bedrock, any OpenAI-compatible server, or the
deterministic fake used by tests. Capabilities are data (class attributes), not ``if`` chains.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from model_layer.config import ModelConfig, ProviderConfigBase
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


@dataclass(frozen=True)
class ProviderPlugin:
    """What a provider registers in the ``strata.providers`` entry-point group.

    ``config`` is its ``[[providers]]`` config class (a :class:`~model_layer.config.ProviderConfigBase`
    whose ``type`` is ``Literal[<type>]``); ``factory(config, models)`` builds one provider for the
    gateway models routed to it; ``display_name`` is the providerName its models show by default.
    """

    type: str
    display_name: str
    config: type[ProviderConfigBase]
    factory: Callable[[Any, list[ModelConfig]], Provider]
