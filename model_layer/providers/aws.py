"""boto3 plumbing shared by the Bedrock and SageMaker providers: clients and error mapping.

Clients are created with botocore's own retries off (one attempt): the router retries with its
own policy and must know when the first byte was sent. Blocking boto3 calls and event-stream
iteration run in threads (``infrastructure.runtime.bridge``), so the event loop never waits.
"""

from __future__ import annotations

import base64
from typing import Any

from model_layer.errors import (
    GatewayError,
    InternalServerException,
    ModelErrorException,
    ModelNotReadyException,
    ModelStreamErrorException,
    ModelTimeoutException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)
from model_layer.providers.common import ERRORS_BY_CODE

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


def aws_error(exc: Exception, what: str) -> GatewayError:
    """botocore exceptions → gateway errors (client faults stay the client's, others the model's)."""
    from botocore.exceptions import (
        ClientError,
        ReadTimeoutError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, ReadTimeoutError):
        return ModelTimeoutException(f"{what} did not answer in time")
    if isinstance(exc, BotoConnectionError):
        return ServiceUnavailableException(f"{what} is unreachable: {type(exc).__name__}")
    if not isinstance(exc, ClientError):
        return ModelErrorException(f"{what} failed: {type(exc).__name__}: {exc}")
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    code = code[:1].upper() + code[1:]  # event-stream exceptions arrive camelCased
    message = f"{what}: {error.get('Message') or code}"
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "ModelError":
        return _model_error(exc.response, message)
    cls = _UPSTREAM_CODES.get(code)
    if cls is None:
        extra = {"originalStatusCode": status} if status else {}
        return ModelErrorException(message, extra=extra)
    return cls(message)


def _model_error(response: dict[str, Any], message: str) -> GatewayError:
    """SageMaker's ModelError wraps the container's status: 4xx is the caller's fault."""
    original = response.get("OriginalStatusCode") or response.get("Error", {}).get("OriginalStatusCode")
    try:
        status = int(original) if original is not None else 500
    except (TypeError, ValueError):
        status = 500
    if status == 429:
        return ThrottlingException(message)
    if 400 <= status < 500:
        return ValidationException(message)
    if status == 503:
        return ServiceUnavailableException(message)
    return ModelErrorException(message, extra={"originalStatusCode": status})


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
