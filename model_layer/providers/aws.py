"""boto3 plumbing shared by the Bedrock and SageMaker providers: clients and error mapping.

Clients are created with botocore's own retries off (one attempt): the router retries with its
own policy and must know when the first byte was sent. Blocking boto3 calls and event-stream
iteration run in threads (``infrastructure.runtime.bridge``), so the event loop never waits.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from model_layer.errors import (
    GatewayError,
    InternalServerException,
    ModelErrorException,
    ModelNotReadyException,
    ModelStreamErrorException,
    ModelTimeoutException,
    ResourceNotFoundException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)
from model_layer.providers.common import ERRORS_BY_CODE, log_upstream, refusal_text

# Upstream codes (Bedrock, SageMaker, event-stream camelCase) → gateway error classes.
_UPSTREAM_CODES: dict[str, type[GatewayError]] = {
    **ERRORS_BY_CODE,
    "ModelStreamErrorException": ModelStreamErrorException,
    "ModelStreamError": ModelStreamErrorException,
    "InternalStreamFailure": ModelStreamErrorException,
    "ValidationError": ValidationException,
    "ServiceUnavailable": ServiceUnavailableException,
    "InternalFailure": InternalServerException,
    "InternalDependencyException": ServiceUnavailableException,
    "ModelNotReady": ModelNotReadyException,
    "Throttling": ThrottlingException,
    "TooManyRequestsException": ThrottlingException,
    "ServiceQuotaExceededException": ThrottlingException,
}


def make_client(
    service: str,
    *,
    region: str | None,
    endpoint_url: str | None,
    timeout_s: float,
    profile: str | None = None,
) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        read_timeout=timeout_s,
        connect_timeout=10,
        user_agent_extra="strata-gateway",
    )
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def aws_error(exc: Exception, what: str, request_id: str | None = None) -> GatewayError:
    """botocore exceptions → gateway errors (client faults stay the client's, others the model's).

    ``what`` names the upstream for the log only: the client's message never carries upstream
    names, URLs or exception text, except an upstream's reason for refusing the request.
    """
    from botocore.exceptions import ClientError, ReadTimeoutError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, ReadTimeoutError):
        log_upstream(f"{what} did not answer in time", type(exc).__name__, request_id)
        return ModelTimeoutException("The upstream model did not answer in time.")
    if isinstance(exc, BotoConnectionError):
        log_upstream(f"{what} is unreachable", exc, request_id)
        return ServiceUnavailableException("The upstream model is unreachable; retry later.")
    if not isinstance(exc, ClientError):
        log_upstream(f"{what} failed unexpectedly", type(exc).__name__, request_id, exc)
        return ModelErrorException("The upstream model failed (the gateway's log has details).")
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    code = code[:1].upper() + code[1:]  # event-stream exceptions arrive camelCased
    upstream_message = str(error.get("Message") or code)
    log_upstream(f"{what} answered {code}", upstream_message, request_id)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "ModelError":
        return _model_error(exc.response, upstream_message)
    cls = _UPSTREAM_CODES.get(code)
    if cls is None:
        extra = {"originalStatusCode": status} if status else {}
        return ModelErrorException("The upstream model failed.", extra=extra)
    if cls is ValidationException:
        return ValidationException(f"The model rejected the request: {refusal_text(upstream_message)}")
    return cls(_GENERIC.get(cls, "The upstream model failed."))


# What the client reads for each upstream failure that is not its own fault.
_GENERIC: dict[type[GatewayError], str] = {
    ThrottlingException: "The upstream model is busy; retry later.",
    ServiceUnavailableException: "The upstream model is unavailable; retry later.",
    ModelNotReadyException: "The upstream model is not ready; retry later.",
    ModelTimeoutException: "The upstream model did not answer in time.",
    ModelStreamErrorException: "The upstream model failed mid-stream.",
    ResourceNotFoundException: "The upstream model was not found (the gateway's log has details).",
}
# SageMaker's ModelError wraps the container's words: 'Received client error (400) from primary
# with message "…". See https://…cloudwatch… in account 123456789012 for more information.'
_CONTAINER_MESSAGE = re.compile(r'with message "(.*)"', re.DOTALL)


def _container_reason(response: dict[str, Any], upstream_message: str) -> str | None:
    """The container's own words in a ModelError: ``OriginalMessage`` (its body), else the quote."""
    original = response.get("OriginalMessage") or response.get("Error", {}).get("OriginalMessage")
    if isinstance(original, str) and original.strip():
        try:
            body = json.loads(original)
        except ValueError:
            return original
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message") if isinstance(error, dict) else error
        return str(message) if message else None
    found = _CONTAINER_MESSAGE.search(upstream_message)
    return found.group(1) if found else None


def _model_error(response: dict[str, Any], upstream_message: str) -> GatewayError:
    """SageMaker's ModelError wraps the container's status: 4xx is the caller's fault."""
    original = response.get("OriginalStatusCode") or response.get("Error", {}).get("OriginalStatusCode")
    try:
        status = int(original) if original is not None else 500
    except (TypeError, ValueError):
        status = 500
    if status == 429:
        return ThrottlingException(_GENERIC[ThrottlingException])
    if 400 <= status < 500:
        reason = _container_reason(response, upstream_message) or f"HTTP {status}"
        return ValidationException(f"The model rejected the request: {refusal_text(reason)}")
    if status == 503:
        return ServiceUnavailableException(_GENERIC[ServiceUnavailableException])
    return ModelErrorException(
        f"The upstream model failed (HTTP {status}).", extra={"originalStatusCode": status}
    )


def decode_blobs(value: Any) -> Any:
    """Converse JSON (base64 ``bytes`` strings) → boto3 params (raw ``bytes``), recursively."""
    if isinstance(value, list):
        return [decode_blobs(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "bytes" and isinstance(item, str):
            out[key] = base64.b64decode(item)
        elif key in ("input", "json"):  # JSON documents pass through untouched
            out[key] = item
        else:
            out[key] = decode_blobs(item)
    return out
