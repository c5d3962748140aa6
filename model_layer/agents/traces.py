"""Trace events in the shapes of bedrock-agent-runtime's ``Trace`` union.

Each function returns one ``Trace`` value (exactly one member set, as the model's union demands):
``preProcessingTrace`` / ``orchestrationTrace`` / ``postProcessingTrace`` (each itself a union of
``modelInvocationInput`` | ``modelInvocationOutput`` | ``rationale`` | ``invocationInput`` |
``observation``), ``guardrailTrace`` or ``failureTrace``. The API wraps them in the ``trace``
stream event with the agent, alias, session and event time.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from model_layer.types import ChatRequest, ChatResponse


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class TraceIds:
    """Trace ids (2–16 characters in the model): one per step, shared by that step's events."""

    def __init__(self) -> None:
        self.base = uuid.uuid4().hex[:11]

    def __call__(self, step: int | str) -> str:
        return f"{self.base}-{step}"[:16]


def prompt_text(request: ChatRequest) -> str:
    """The prompt as the trace shows it (Bedrock shows the rendered prompt the model got)."""
    system = "\n".join(block.get("text", "") for block in request.system)
    tools = [
        {"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in request.tools
    ]
    return json.dumps({"system": system, "tools": tools, "messages": request.messages}, ensure_ascii=False)


def inference_configuration(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {"stopSequences": list(request.stop_sequences)[:4]}
    if request.max_tokens is not None:
        config["maximumLength"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    return config


def model_input(kind: str, trace_id: str, request: ChatRequest, prompt_type: str) -> dict[str, Any]:
    body = {
        "traceId": trace_id,
        "text": prompt_text(request),
        "type": prompt_type,
        "foundationModel": request.model_id,
        "inferenceConfiguration": inference_configuration(request),
        "promptCreationMode": "DEFAULT",
        "parserMode": "DEFAULT",
    }
    return {kind: {"modelInvocationInput": body}}


def model_output(
    kind: str, trace_id: str, response: ChatResponse, started: float, ended: float, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "traceId": trace_id,
        "rawResponse": {"content": json.dumps(response.content, ensure_ascii=False)},
        "metadata": {
            "startTime": iso(started),
            "endTime": iso(ended),
            "totalTimeMs": int((ended - started) * 1000),
            "usage": {
                "inputTokens": response.usage.input_tokens,
                "outputTokens": response.usage.output_tokens,
            },
        },
        **extra,
    }
    return {kind: {"modelInvocationOutput": body}}


def rationale(trace_id: str, text: str) -> dict[str, Any]:
    return {"orchestrationTrace": {"rationale": {"traceId": trace_id, "text": text}}}


def invocation_input(trace_id: str, invocation_type: str, **member: Any) -> dict[str, Any]:
    return {
        "orchestrationTrace": {
            "invocationInput": {"traceId": trace_id, "invocationType": invocation_type, **member}
        }
    }


def observation(trace_id: str, observation_type: str, **member: Any) -> dict[str, Any]:
    return {"orchestrationTrace": {"observation": {"traceId": trace_id, "type": observation_type, **member}}}


def timing(started: float, ended: float) -> dict[str, Any]:
    return {"startTime": iso(started), "endTime": iso(ended), "totalTimeMs": int((ended - started) * 1000)}


def failure(trace_id: str, reason: str, code: int = 424) -> dict[str, Any]:
    return {"failureTrace": {"traceId": trace_id, "failureReason": reason, "failureCode": code}}


def guardrail(
    trace_id: str, action: str, *, inputs: list | None = None, outputs: list | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "traceId": trace_id,
        "action": "INTERVENED" if action == "GUARDRAIL_INTERVENED" else "NONE",
    }
    if inputs is not None:
        body["inputAssessments"] = inputs
    if outputs is not None:
        body["outputAssessments"] = outputs
    return {"guardrailTrace": body}
