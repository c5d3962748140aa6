"""The gateway's model service: what every API router calls, whatever wire format it speaks.

Order of work for one call: quota check → route to a provider (retries, fallback, timeout) →
stream events → metering and metrics once the stream ends (also when it fails or is cancelled).
The pieces are injected (``Router``, ``Limiter``, ``Meter``), so each is small and testable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from model_layer.call_context import note_call
from model_layer.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingResult,
    InvocationBodies,
    Metadata,
    ModelInfo,
    StreamEvent,
    Tenant,
    Usage,
    collect,
    fold,
)
from model_layer.wire.bounds import check_chat_request


class Router(Protocol):
    """Maps gateway model ids to providers (``model_layer.providers.registry``)."""

    def list_models(self) -> list[ModelInfo]: ...

    def get_model(self, model_id: str) -> ModelInfo:
        """Raise ``ResourceNotFoundException`` (or ``ValidationException``) for unknown ids."""
        ...

    def converse_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def embed(self, model_id: str, texts: list[str]) -> EmbeddingResult: ...

    async def count_tokens(self, request: ChatRequest) -> int: ...

    async def aclose(self) -> None: ...


class Limiter(Protocol):
    """Per-tenant request and token rate limits (``model_layer.tenancy``)."""

    async def check(self, tenant: Tenant, model_id: str, estimated_tokens: int) -> None:
        """Raise ``ThrottlingException`` (with ``retry_after_s``) when over a limit."""
        ...

    async def add_tokens(self, tenant: Tenant, model_id: str, tokens: int) -> None: ...


class Meter(Protocol):
    """Usage and cost records per tenant and model, metrics, invocation log."""

    async def record(
        self,
        *,
        tenant: Tenant,
        model: ModelInfo,
        operation: str,
        usage: Usage,
        latency_ms: int,
        request_id: str | None,
        error_code: str | None,
        bodies: InvocationBodies | None = None,
    ) -> None: ...


class NoLimits:
    async def check(self, tenant: Tenant, model_id: str, estimated_tokens: int) -> None:
        return None

    async def add_tokens(self, tenant: Tenant, model_id: str, tokens: int) -> None:
        return None


class NoMeter:
    wants_bodies = False

    async def record(self, **_: object) -> None:
        return None


class ModelService:
    def __init__(self, router: Router, limiter: Limiter | None = None, meter: Meter | None = None):
        self.router = router
        self.limiter: Limiter = limiter or NoLimits()
        self.meter: Meter = meter or NoMeter()

    def list_models(self) -> list[ModelInfo]:
        return self.router.list_models()

    def get_model(self, model_id: str) -> ModelInfo:
        return self.router.get_model(model_id)

    async def converse_stream(
        self, tenant: Tenant, request: ChatRequest, operation: str = "Converse"
    ) -> AsyncIterator[StreamEvent]:
        """Check limits *before* the first byte, then stream; metering happens in ``finally``."""
        model = self.router.get_model(request.model_id)
        check_chat_request(request)
        request.tenant_id = tenant.tenant_id
        await self.limiter.check(tenant, model.model_id, request.max_tokens or 0)
        return self._metered(tenant, model, request, operation)

    async def _metered(
        self, tenant: Tenant, model: ModelInfo, request: ChatRequest, operation: str
    ) -> AsyncIterator[StreamEvent]:
        started = time.monotonic()
        usage, error_code = Usage(), None
        # Keep the events only when the meter logs bodies: the common path stores nothing.
        seen: list[StreamEvent] | None = [] if getattr(self.meter, "wants_bodies", False) else None
        try:
            async for event in self.router.converse_stream(request):
                if isinstance(event, Metadata):
                    usage = event.usage
                if seen is not None:
                    seen.append(event)
                yield event
        except Exception as exc:
            error_code = getattr(exc, "code", type(exc).__name__)
            raise
        finally:
            latency = int((time.monotonic() - started) * 1000)
            note_call(operation, model.model_id, usage, error_code)
            await self.limiter.add_tokens(tenant, model.model_id, usage.total_tokens)
            await self.meter.record(
                tenant=tenant,
                model=model,
                operation=operation,
                usage=usage,
                latency_ms=latency,
                request_id=request.request_id,
                error_code=error_code,
                bodies=_bodies(request, seen),
            )

    async def converse(
        self, tenant: Tenant, request: ChatRequest, operation: str = "Converse"
    ) -> ChatResponse:
        return await collect(await self.converse_stream(tenant, request, operation))

    async def embed(self, tenant: Tenant, model_id: str, texts: list[str], request_id: str | None = None):
        model = self.router.get_model(model_id)
        await self.limiter.check(tenant, model.model_id, 0)
        started, error_code, result = time.monotonic(), None, None
        try:
            result = await self.router.embed(model.model_id, texts)
            return result
        except Exception as exc:
            error_code = getattr(exc, "code", type(exc).__name__)
            raise
        finally:
            tokens = result.input_tokens if result else 0
            note_call("Embed", model.model_id, Usage(input_tokens=tokens), error_code)
            await self.limiter.add_tokens(tenant, model.model_id, tokens)
            await self.meter.record(
                tenant=tenant,
                model=model,
                operation="Embed",
                usage=Usage(input_tokens=tokens),
                latency_ms=int((time.monotonic() - started) * 1000),
                request_id=request_id,
                error_code=error_code,
            )

    async def count_tokens(self, tenant: Tenant, request: ChatRequest) -> int:
        self.router.get_model(request.model_id)
        check_chat_request(request)
        return await self.router.count_tokens(request)

    async def aclose(self) -> None:
        await self.router.aclose()
        # A limiter may hold connections (Redis); Limiter implementations need not have aclose.
        close = getattr(self.limiter, "aclose", None)
        if close is not None:
            await close()


log = logging.getLogger("strata.gateway")


def _bodies(request: ChatRequest, seen: list[StreamEvent] | None) -> InvocationBodies | None:
    if seen is None:
        return None
    try:
        response = fold(seen) if seen else None
    except ValueError:  # a stream cut off inside a tool call's JSON: log the request alone
        log.debug("could not fold the events of request %s for the invocation log", request.request_id)
        response = None
    return InvocationBodies(request, response)
