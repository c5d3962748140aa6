"""The gateway's model service: what every API router calls, whatever wire format it speaks.

Order of work for one call: the tenant may use the model (its policy) → request bounds →
admission (budgets, then rate limits reserving the call's worst case) → route to a provider
(retries, fallback, timeout) → stream events → when the stream ends, however it ends (finished,
failed, timed out, client gone): settle the reservation with the tokens really used and meter
the call with its outcome. The pieces are injected (``Router``, ``Limiter``, ``Meter``), so each
is small and testable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from model_layer.call_context import note_call
from model_layer.errors import AccessDeniedException, ValidationException
from model_layer.estimate import estimate_input_tokens, estimate_text_tokens
from model_layer.guardrails.converse import (
    GuardedCall,
    GuardrailConfig,
    blocked_events,
    guard_output,
    input_blocks,
    mask_input,
)
from model_layer.types import (
    BlockDelta,
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
from model_layer.wire.bounds import RequestBounds, check_chat_request, check_embedding_request

log = logging.getLogger("strata.gateway")

NO_ACCESS = "You don't have access to the model with the specified model ID."

# How a metered call ended.
COMPLETE, ERROR, CLIENT_DISCONNECTED = "complete", "error", "client_disconnected"


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
    """Admission control per tenant and model (``model_layer.tenancy``)."""

    async def admit(self, tenant: Tenant, model_id: str, worst_case_tokens: int) -> Any:
        """Reserve the call's worst case or raise ``ThrottlingException`` /
        ``ServiceQuotaExceededException``; the result is handed back to :meth:`settle`."""
        ...

    async def settle(self, admission: Any, used_tokens: int) -> None: ...


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
        outcome: str = COMPLETE,
        bodies: InvocationBodies | None = None,
    ) -> None: ...

    async def flushed(self) -> None:
        """Return once every call recorded so far is readable from the state store."""


class NoLimits:
    async def admit(self, tenant: Tenant, model_id: str, worst_case_tokens: int) -> None:
        return None

    async def settle(self, admission: Any, used_tokens: int) -> None:
        return None


class NoMeter:
    wants_bodies = False

    async def record(self, **_: object) -> None:
        return None

    async def flushed(self) -> None:
        return None


class ModelService:
    def __init__(
        self,
        router: Router,
        limiter: Limiter | None = None,
        meter: Meter | None = None,
        bounds: RequestBounds | None = None,
    ):
        self.router = router
        self.limiter: Limiter = limiter or NoLimits()
        self.meter: Meter = meter or NoMeter()
        # What one request may ask of an engine; None: the defaults, or STRATA_MAX_* if set.
        self.bounds = bounds or RequestBounds()
        # model_layer.guardrails.Guardrails over the shared state (set by app.assemble); None: no
        # guardrails (a bare service in tests), and a request naming one is refused.
        self.guardrails: Any = None

    # --- models a tenant may use ---------------------------------------------------------------

    def list_models(self, tenant: Tenant | None = None) -> list[ModelInfo]:
        models = self.router.list_models()
        if tenant is None:
            return models
        return [m for m in models if tenant.policy.allows(m.model_id)]

    def get_model(self, model_id: str, tenant: Tenant | None = None) -> ModelInfo:
        """The model, or ``AccessDeniedException`` if ``tenant`` may not use it."""
        model = self.router.get_model(model_id)
        if tenant is not None and not tenant.policy.allows(model.model_id):
            raise AccessDeniedException(NO_ACCESS)
        return model

    # --- chat ------------------------------------------------------------------------------------

    async def converse_stream(
        self,
        tenant: Tenant,
        request: ChatRequest,
        operation: str = "Converse",
        guardrail: GuardrailConfig | None = None,
        *,
        checked: GuardedCall | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Admit *before* the first byte, then stream; settling and metering happen when it ends.

        With a ``guardrail``, the input is checked once the call is admitted (so rate limits also
        bound the guardrail's work): a blocked input never reaches the model, its reservation is
        settled at zero tokens, and the output is checked as it streams. ``checked``: a guardrail
        call whose input the caller checked itself (a knowledge-base query is checked before
        retrieval); only the output is guarded here, inside the metering, so an answer the
        guardrail stops is metered as a complete call, not as one the client left.
        """
        model = self.get_model(request.model_id, tenant)
        check_chat_request(request, self.bounds)
        request.tenant_id = tenant.tenant_id
        worst_case = estimate_input_tokens(request) + (request.max_tokens or model.context_window)
        admission = await self.limiter.admit(tenant, model.model_id, worst_case)
        call = checked
        if guardrail is not None:
            try:
                call = await self._guard_input(tenant, request, guardrail, operation)
            except BaseException:
                await self.limiter.settle(admission, 0)
                raise
            if call.input is not None and call.input.blocked:
                await self.limiter.settle(admission, 0)
                return self._blocked(tenant, model, request, operation, call)
        return self._metered(tenant, model, request, operation, admission, call)

    # --- guardrails ------------------------------------------------------------------------------

    async def _guard_input(
        self, tenant: Tenant, request: ChatRequest, config: GuardrailConfig, operation: str
    ) -> GuardedCall:
        if self.guardrails is None:
            raise ValidationException("Guardrails are not enabled on this gateway")
        call = GuardedCall(config)
        call.compiled = await self.guardrails.compiled(tenant.tenant_id, config.identifier, config.version)
        blocks, refs = input_blocks(request)
        if blocks:
            call.input = await self.guardrails.apply_blocks(
                tenant, config.identifier, config.version, "INPUT", blocks,
                full=config.full, operation=operation, request_id=request.request_id,
            )  # fmt: skip
            if call.input.intervened and not call.input.blocked:
                mask_input(request, refs, call.input.texts)
        return call

    async def _blocked(
        self, tenant: Tenant, model: ModelInfo, request: ChatRequest, operation: str, call: GuardedCall
    ) -> AsyncIterator[StreamEvent]:
        """The answer to a blocked input: the configured message, metered as a call of no tokens."""
        events = blocked_events(call.compiled.blocked_input_messaging, call)
        for event in events[:-1]:
            yield event
        note_call(operation, model.model_id, Usage(), None)
        await asyncio.shield(
            self.meter.record(
                tenant=tenant, model=model, operation=operation, usage=Usage(), latency_ms=0,
                request_id=request.request_id, error_code=None, outcome=COMPLETE,
            )
        )  # fmt: skip
        yield events[-1]

    def _model_events(
        self, tenant: Tenant, request: ChatRequest, call: GuardedCall | None, operation: str
    ) -> AsyncIterator[StreamEvent]:
        events = self.router.converse_stream(request)
        if call is None:
            return events
        config = call.config

        async def check(blocks):
            return await self.guardrails.apply_blocks(
                tenant, config.identifier, config.version, "OUTPUT", blocks,
                full=config.full, operation=operation, request_id=request.request_id,
            )  # fmt: skip

        def so_far(deltas: int) -> Usage:
            return _usage_so_far(request, 1, deltas, COMPLETE, None)

        return guard_output(events, check, call, call.compiled.blocked_outputs_messaging, so_far)

    async def _metered(
        self,
        tenant: Tenant,
        model: ModelInfo,
        request: ChatRequest,
        operation: str,
        admission: Any,
        call: GuardedCall | None = None,
    ) -> AsyncIterator[StreamEvent]:
        started = time.monotonic()
        usage: Usage | None = None
        error_code, outcome, events, deltas, metered = None, COMPLETE, 0, 0, False
        # Keep the events only when the meter logs bodies: the common path stores nothing.
        seen: list[StreamEvent] | None = [] if getattr(self.meter, "wants_bodies", False) else None
        try:
            async for event in self._model_events(tenant, request, call, operation):
                events += 1
                if isinstance(event, BlockDelta):
                    deltas += 1
                if seen is not None:
                    seen.append(event)
                if isinstance(event, Metadata):
                    # The last event ends the answer for the client: its usage is durable first,
                    # so a replica killed right after cannot have answered a call it did not meter.
                    usage, metered = event.usage, True
                    await asyncio.shield(
                        self._finish(
                            tenant, model, request, operation, admission, usage, started, None, COMPLETE, seen
                        )
                    )
                yield event
        except (GeneratorExit, asyncio.CancelledError):
            outcome = CLIENT_DISCONNECTED
            raise
        except Exception as exc:
            outcome, error_code = ERROR, getattr(exc, "code", type(exc).__name__)
            raise
        finally:
            if not metered:
                usage = _usage_so_far(request, events, deltas, outcome, error_code)
                finish = self._finish(
                    tenant, model, request, operation, admission, usage, started, error_code, outcome, seen
                )
                # Shielded: a cancelled request (client gone) must still be settled and metered.
                await asyncio.shield(finish)

    async def _finish(
        self,
        tenant: Tenant,
        model: ModelInfo,
        request: ChatRequest,
        operation: str,
        admission: Any,
        usage: Usage,
        started: float,
        error_code: str | None,
        outcome: str,
        seen: list[StreamEvent] | None,
    ) -> None:
        latency = int((time.monotonic() - started) * 1000)
        note_call(operation, model.model_id, usage, error_code or (None if outcome == COMPLETE else outcome))
        try:
            await self.limiter.settle(admission, usage.total_tokens)
        except Exception:  # a rate-limit store outage must not lose the usage record below
            log.exception("could not settle the rate-limit reservation of %s", request.request_id)
        await self.meter.record(
            tenant=tenant,
            model=model,
            operation=operation,
            usage=usage,
            latency_ms=latency,
            request_id=request.request_id,
            error_code=error_code,
            outcome=outcome,
            bodies=_bodies(request, seen),
        )

    async def converse(
        self,
        tenant: Tenant,
        request: ChatRequest,
        operation: str = "Converse",
        guardrail: GuardrailConfig | None = None,
    ) -> ChatResponse:
        request.stream = False  # nobody reads it as a stream: the provider may call upstream in one go
        return await collect(await self.converse_stream(tenant, request, operation, guardrail))

    # --- embeddings and tokens -------------------------------------------------------------------

    async def embed(
        self, tenant: Tenant, model_id: str, texts: list[str], request_id: str | None = None
    ) -> EmbeddingResult:
        model = self.get_model(model_id, tenant)
        check_embedding_request(texts, self.bounds)
        admission = await self.limiter.admit(tenant, model.model_id, estimate_text_tokens(texts))
        started, error_code, outcome, result = time.monotonic(), None, COMPLETE, None
        try:
            result = await self.router.embed(model.model_id, texts)
            return result
        except asyncio.CancelledError:
            outcome = CLIENT_DISCONNECTED
            raise
        except Exception as exc:
            outcome, error_code = ERROR, getattr(exc, "code", type(exc).__name__)
            raise
        finally:
            spent = result.input_tokens if result else 0
            if result is None and outcome == CLIENT_DISCONNECTED:
                spent = estimate_text_tokens(texts)  # the engine had the texts: bill the estimate
            usage = Usage(input_tokens=spent)
            note_call("Embed", model.model_id, usage, error_code)
            await asyncio.shield(
                self._finish_embed(tenant, model, admission, usage, started, error_code, outcome, request_id)
            )

    async def _finish_embed(
        self,
        tenant: Tenant,
        model: ModelInfo,
        admission: Any,
        usage: Usage,
        started: float,
        error_code: str | None,
        outcome: str,
        request_id: str | None,
    ) -> None:
        try:
            await self.limiter.settle(admission, usage.input_tokens)
        except Exception:
            log.exception("could not settle the rate-limit reservation of %s", request_id)
        await self.meter.record(
            tenant=tenant,
            model=model,
            operation="Embed",
            usage=usage,
            latency_ms=int((time.monotonic() - started) * 1000),
            request_id=request_id,
            error_code=error_code,
            outcome=outcome,
        )

    async def count_tokens(self, tenant: Tenant, request: ChatRequest) -> int:
        """Not billed (AWS does not bill CountTokens either), but it counts as a request for rate limits."""
        model = self.get_model(request.model_id, tenant)
        check_chat_request(request, self.bounds)
        admission = await self.limiter.admit(tenant, model.model_id, 0)
        try:
            return await self.router.count_tokens(request)
        finally:
            await self.limiter.settle(admission, 0)

    async def aclose(self) -> None:
        await self.router.aclose()
        # The limiter and meter may hold connections (Redis) and threads (the usage writer).
        for part in (self.limiter, self.meter):
            close = getattr(part, "aclose", None)
            if close is not None:
                await close()


def _usage_so_far(
    request: ChatRequest, events: int, deltas: int, outcome: str, error_code: str | None
) -> Usage:
    """Usage of a call that ended before the provider reported it.

    The prompt (as the provider reported it while streaming, or estimated) and what was generated
    (reported, or one token per streamed delta, which is what token-streaming servers send). A
    call that failed before anything streamed (refused, unreachable upstream) used nothing; one
    the client abandoned, or that timed out, during prefill has used its prompt.
    """
    prompt_spent = outcome == CLIENT_DISCONNECTED or error_code == "ModelTimeoutException"
    if events == 0 and not prompt_spent:
        return Usage()
    progress = request.progress
    return Usage(
        input_tokens=progress.input_tokens or estimate_input_tokens(request),
        output_tokens=max(progress.output_tokens, deltas),
        cache_read_input_tokens=progress.cache_read_input_tokens,
        cache_write_input_tokens=progress.cache_write_input_tokens,
    )


def _bodies(request: ChatRequest, seen: list[StreamEvent] | None) -> InvocationBodies | None:
    if seen is None:
        return None
    try:
        response = fold(seen) if seen else None
    except ValueError:  # a stream cut off inside a tool call's JSON: log the request alone
        log.debug("could not fold the events of request %s for the invocation log", request.request_id)
        response = None
    return InvocationBodies(request, response)
