"""The bedrock-agent-runtime API for agents: InvokeAgent, InvokeInlineAgent, Get/DeleteAgentMemory.

InvokeAgent and InvokeInlineAgent answer with AWS's event stream (the ``completion`` member):
``chunk`` (base64 ``bytes`` of the answer, with ``attribution.citations`` when knowledge bases
were used), ``trace`` (with ``enableTrace``), ``returnControl`` and ``files`` events, and the
session id (and memory id) in response headers, so ``boto3``'s ``invoke_agent(...)["completion"]``
decodes it. Everything that can be wrong with a request is found before the stream starts (a
plain HTTP error); a failure after that is the stream's own exception event — a model or action
group that failed is ``dependencyFailedException``, never a 5xx.

Errors on these paths render with bedrock-agent-runtime's statuses: the error handler tells its
routes from bedrock-agent's by botocore's URI templates (:mod:`model_layer.api.collisions`).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from model_layer.agents.events import AgentEvent, Chunk, Files, ReturnControl, TraceEvent
from model_layer.agents.runtime import Started
from model_layer.api.agents_deps import AgentsDep, bound_input, success_status
from model_layer.api.deps import TenantDep, request_id
from model_layer.api.streaming import GuardedStreamingResponse
from model_layer.errors import GatewayError, InternalServerException
from model_layer.wire import eventstream
from model_layer.wire.openapi import bedrock_body_schema, request_body

router = APIRouter(tags=["bedrock-agent-runtime"])
SERVICE = "bedrock-agent-runtime"
MAX_CHUNK_BYTES = 1_000_000  # PartBody's max
# Failures the completion stream models by name; the rest become the nearest of them.
_STREAM_MEMBERS = {
    "AccessDeniedException": "accessDeniedException",
    "BadGatewayException": "badGatewayException",
    "ConflictException": "conflictException",
    "DependencyFailedException": "dependencyFailedException",
    "InternalServerException": "internalServerException",
    "ModelNotReadyException": "modelNotReadyException",
    "ResourceNotFoundException": "resourceNotFoundException",
    "ServiceQuotaExceededException": "serviceQuotaExceededException",
    "ThrottlingException": "throttlingException",
    "ValidationException": "validationException",
}


def _doc(operation: str) -> dict[str, Any]:
    return request_body(bedrock_body_schema(SERVICE, operation))


class EventStreamResponse(GuardedStreamingResponse):
    media_type = eventstream.CONTENT_TYPE


@router.post(
    "/agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text",
    openapi_extra=_doc("InvokeAgent"),
)
async def invoke_agent(
    agentId: str,
    agentAliasId: str,
    sessionId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    ids = {"agentId": agentId, "agentAliasId": agentAliasId, "sessionId": sessionId}
    body = await bound_input(request, SERVICE, "InvokeAgent", **ids)
    started = await agents.runtime.invoke_agent(
        tenant, agentId, agentAliasId, sessionId, body, request_id(request)
    )
    envelope = {
        "agentId": agentId,
        "agentAliasId": agentAliasId,
        "agentVersion": started.run.identity["version"],
    }
    return _stream(started, envelope, "InvokeAgent")


@router.post("/agents/{sessionId}", openapi_extra=_doc("InvokeInlineAgent"))
async def invoke_inline_agent(
    sessionId: str, request: Request, tenant: TenantDep, agents: AgentsDep
) -> Response:
    body = await bound_input(request, SERVICE, "InvokeInlineAgent", sessionId=sessionId)
    started = await agents.runtime.invoke_inline_agent(tenant, sessionId, body, request_id(request))
    return _stream(started, {}, "InvokeInlineAgent")


@router.get("/agents/{agentId}/agentAliases/{agentAliasId}/memories")
async def get_agent_memory(
    agentId: str,
    agentAliasId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    params = await bound_input(request, SERVICE, "GetAgentMemory", agentId=agentId, agentAliasId=agentAliasId)
    return JSONResponse(await agents.runtime.get_agent_memory(tenant, agentId, agentAliasId, params))


@router.delete("/agents/{agentId}/agentAliases/{agentAliasId}/memories")
async def delete_agent_memory(
    agentId: str,
    agentAliasId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    params = await bound_input(
        request, SERVICE, "DeleteAgentMemory", agentId=agentId, agentAliasId=agentAliasId
    )
    await agents.runtime.delete_agent_memory(tenant, agentId, agentAliasId, params)
    return JSONResponse({}, status_code=success_status(SERVICE, "DeleteAgentMemory"))


# --- the completion stream ---------------------------------------------------------------------


def _stream(started: Started, envelope: dict[str, str], operation: str) -> Response:
    headers = {
        "x-amzn-bedrock-agent-content-type": "application/json",
        "x-amz-bedrock-agent-session-id": started.session_id,
    }
    if started.memory_id:
        headers["x-amz-bedrock-agent-memory-id"] = started.memory_id
    envelope = {**envelope, "sessionId": started.session_id}
    return EventStreamResponse(_frames(started.events, envelope, operation), headers=headers)


async def _frames(
    events: AsyncIterator[AgentEvent], envelope: dict[str, str], operation: str
) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            for frame in encode(event, envelope):
                yield frame
    except GatewayError as exc:
        yield stream_failure(exc)
    except Exception:
        import logging

        logging.getLogger("strata.agents").exception("%s stream failed", operation)
        yield stream_failure(InternalServerException("The agent failed with an internal error"))
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


def encode(event: AgentEvent, envelope: dict[str, str]) -> list[bytes]:
    """One agent event as event-stream frames (a long answer is split into chunks of ≤ 1 MB)."""
    if isinstance(event, Chunk):
        data = event.text.encode("utf-8")
        parts = [data[i : i + MAX_CHUNK_BYTES] for i in range(0, len(data), MAX_CHUNK_BYTES)] or [b""]
        frames = []
        for i, part in enumerate(parts):
            payload: dict[str, Any] = {"bytes": base64.b64encode(part).decode()}
            if event.citations and i == len(parts) - 1:
                payload["attribution"] = {"citations": event.citations}
            frames.append(eventstream.encode_event("chunk", payload))
        return frames
    if isinstance(event, TraceEvent):
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return [eventstream.encode_event("trace", {**envelope, "eventTime": now, "trace": event.trace})]
    if isinstance(event, ReturnControl):
        payload = {"invocationId": event.invocation_id, "invocationInputs": event.inputs}
        return [eventstream.encode_event("returnControl", payload)]
    if isinstance(event, Files):
        return [eventstream.encode_event("files", {"files": event.files})]
    return []


def stream_failure(exc: GatewayError) -> bytes:
    """The exception event for a failure after the stream started."""
    member = _STREAM_MEMBERS.get(exc.code)
    payload: dict[str, Any] = {"message": exc.message}
    if member is None:
        # a model that timed out or failed is a dependency of the agent that failed
        member = "dependencyFailedException" if exc.code.startswith("Model") else "internalServerException"
    if member in ("dependencyFailedException", "badGatewayException") and "resourceName" in exc.extra:
        payload["resourceName"] = exc.extra["resourceName"]
    return eventstream.encode_exception(member, payload)
