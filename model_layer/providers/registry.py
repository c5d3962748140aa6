"""The provider registry and the model router built from ``strata.toml`` at start-up.

``build_router(settings)`` loads the config, creates one provider per ``[[providers]]`` entry (by
its ``type``: the provider plug-in registered under that name in the ``strata.providers``
entry-point group, see :mod:`model_layer.plugins`) and returns a :class:`ModelRouter`, which
implements ``model_layer.service.Router``:

- routing by gateway model id (also accepted: the foundation-model ARN of an id, and a geo
  inference-profile prefix such as ``us.``); malformed ids → ValidationException (botocore's
  modelId pattern), unknown ids → ResourceNotFoundException;
- per model: retries (``resilience``), a timeout to the first event and between events, then the
  model's ``fallbacks`` in order, never once a byte of the answer has been sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from model_layer import plugins
from model_layer.config import ModelConfig, StrataConfig, load_config
from model_layer.errors import GatewayError, ResourceNotFoundException, ValidationException
from model_layer.providers.base import Provider, ProviderPlugin
from model_layer.providers.common import model_info
from model_layer.providers.resilience import (
    RetryPolicy,
    StreamState,
    as_gateway_error,
    call_with_retries,
    may_fall_back,
    stream_with_retries,
    with_timeout,
)
from model_layer.settings import GatewaySettings
from model_layer.types import ChatRequest, EmbeddingResult, ModelInfo, StreamEvent

log = logging.getLogger("strata.gateway.providers")

_GEO_PREFIXES = ("us", "eu", "apac", "us-gov", "sa", "amer", "global", "jp", "au", "ca")
_ARN_RE = re.compile(
    r"arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]*:\d{0,12}:(?:foundation-model|inference-profile)/(.+)"
)


@functools.cache
def _model_id_pattern() -> re.Pattern[str]:
    """Converse's modelId pattern, from botocore's service model (the authority)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape = model.operation_model("Converse").input_shape.members["modelId"]
    return re.compile(shape.metadata["pattern"])


def check_model_id(model_id: str) -> None:
    """ValidationException, worded like Bedrock's, unless ``model_id`` fits the modelId pattern."""
    if not 1 <= len(model_id) <= 2048 or not _model_id_pattern().fullmatch(model_id):
        raise ValidationException(
            f"1 validation error detected: Value '{model_id[:200]}' at 'modelId' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern (a model id or ARN)"
        )


def provider_plugins() -> dict[str, ProviderPlugin]:
    """The registered provider plug-ins by type."""
    return plugins.load(plugins.PROVIDERS)


def create_provider(config: Any, models: list[ModelConfig]) -> Provider:
    """Build a provider with the factory of the plug-in registered for ``config.type``."""
    return provider_plugins()[config.type].factory(config, models)


class ModelRouter:
    """Routes gateway model ids to providers, with retries, timeouts and fallback chains."""

    def __init__(
        self,
        config: StrataConfig,
        providers: dict[str, Provider] | None = None,
        *,
        default_timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        factory: Callable[[Any, list[ModelConfig]], Provider] = create_provider,
    ):
        self.config = config
        self.default_timeout_s = default_timeout_s
        self.retry = retry or RetryPolicy.from_config(config.retry)
        self._models: dict[str, ModelConfig] = {m.id: m for m in config.models}
        self.providers: dict[str, Provider] = dict(providers or {})
        for provider_config in config.providers:
            if provider_config.name not in self.providers:
                served = [m for m in config.models if m.provider == provider_config.name]
                self.providers[provider_config.name] = factory(provider_config, served)
        self._infos = {
            m.id: model_info(m, provider_plugins()[config.provider(m.provider).type].display_name)
            for m in config.models
        }

    # -- lookup -------------------------------------------------------------------------------

    def list_models(self) -> list[ModelInfo]:
        return list(self._infos.values())

    def resolve(self, model_id: str) -> ModelConfig:
        check_model_id(model_id)
        candidates = [model_id]
        if match := _ARN_RE.fullmatch(model_id):
            candidates.append(match.group(1))
        for candidate in list(candidates):
            prefix, _, rest = candidate.partition(".")
            if prefix in _GEO_PREFIXES and rest:
                candidates.append(rest)
        for candidate in candidates:
            if candidate in self._models:
                return self._models[candidate]
        raise ResourceNotFoundException(f"Model {model_id} not found")

    def get_model(self, model_id: str) -> ModelInfo:
        return self._infos[self.resolve(model_id).id]

    def _resolve_kind(self, model_id: str, kind: str) -> ModelConfig:
        model = self.resolve(model_id)
        if model.kind != kind:
            what = "chat (Converse)" if kind == "chat" else "embeddings"
            raise ValidationException(f"Model {model.id} does not support {what}; it is a {model.kind} model")
        return model

    def _chain(self, model: ModelConfig) -> list[ModelConfig]:
        return [model, *(self._models[f] for f in model.fallbacks if f != model.id)]

    def _timeout(self, request_timeout: float | None, model: ModelConfig) -> float:
        # A model's own timeout (strata.toml) is the most specific; the request's is the gateway's
        # setting (STRATA_REQUEST_TIMEOUT_S), which the router's default also comes from.
        return model.timeout_s or request_timeout or self.default_timeout_s

    # -- calls --------------------------------------------------------------------------------

    async def converse_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream from the model or, failing before the first event, from its fallbacks."""
        first = self._resolve_kind(request.model_id, "chat")
        chain = self._chain(first)
        state = StreamState()
        for position, model in enumerate(chain):
            provider = self.providers[model.provider]
            upstream = dataclasses.replace(request, model_id=model.upstream or model.id)
            timeout = self._timeout(request.timeout_s, model)

            def open_stream(p=provider, r=upstream, t=timeout, m=model) -> AsyncIterator[StreamEvent]:
                return with_timeout(p.converse_stream(r), t, m.id)

            try:
                attempts = stream_with_retries(open_stream, self.retry, state, model.id)
                async with contextlib.aclosing(attempts):
                    async for event in attempts:
                        yield event
                return
            except GatewayError as exc:
                last = position == len(chain) - 1
                if state.sent or last or not may_fall_back(exc):
                    raise
                log.warning(
                    "model %s failed (%s); falling back to %s", model.id, exc.code, chain[position + 1].id
                )

    async def embed(self, model_id: str, texts: list[str]) -> EmbeddingResult:
        chain = self._chain(self._resolve_kind(model_id, "embedding"))
        for position, model in enumerate(chain):
            provider = self.providers[model.provider]
            upstream = model.upstream or model.id
            try:
                return await call_with_retries(
                    lambda p=provider, u=upstream: p.embed(u, texts),
                    self.retry,
                    self._timeout(None, model),
                    model.id,
                )
            except GatewayError as exc:
                if position == len(chain) - 1 or not may_fall_back(exc):
                    raise
                log.warning("embedding model %s failed (%s); falling back", model.id, exc.code)
        raise AssertionError("unreachable")  # pragma: no cover

    async def count_tokens(self, request: ChatRequest) -> int:
        model = self._resolve_kind(request.model_id, "chat")
        upstream = dataclasses.replace(request, model_id=model.upstream or model.id)
        try:
            return await self.providers[model.provider].count_tokens(upstream)
        except Exception as exc:
            raise as_gateway_error(exc, model.provider) from None

    async def aclose(self) -> None:
        for name, provider in self.providers.items():
            try:
                await provider.aclose()
            except Exception:  # one provider failing to close must not leak the others
                log.exception("closing provider %s failed", name)


def build_router(settings: GatewaySettings | None = None) -> ModelRouter:
    """The router for ``settings``: ``strata.toml`` (or the embedded defaults) → providers."""
    settings = settings or GatewaySettings()
    config = load_config(settings.config_file, home=settings.state_dir())
    return ModelRouter(config, default_timeout_s=settings.request_timeout_s)
