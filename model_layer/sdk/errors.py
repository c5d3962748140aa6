"""The SDK's one exception tree: every gateway error arrives as one of these typed classes.

The gateway answers errors the way Bedrock does (``x-amzn-ErrorType`` header + ``{"message"}``) on
the AWS routes, the way OpenAI does (``{"error": {"code", "message", "type"}}``) on ``/v1``, and
as ``:exception-type`` messages inside an event stream. :func:`error_from_response` and
:func:`error_from_stream_exception` read all three into the same classes, keyed by the Bedrock
error code, so callers catch ``ThrottlingError`` whatever the route. This module imports nothing
from the gateway's server code: applications run the SDK on other machines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from strata.errors import StrataError


class StrataAPIError(StrataError):
    """An error the gateway (or the way to it) reported.

    ``code`` is the Bedrock error name (``ThrottlingException``), ``status`` the HTTP status
    (``None`` for errors inside a stream or before a response), ``retry_after_s`` the server's
    hint, ``request_id`` the gateway's request id for its logs.
    """

    code: ClassVar[str] = "InternalServerException"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
        body: Any = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.retry_after_s = retry_after_s
        self.body = body
        self.error_code = code or self.code  # the code as received, for unmapped ones

    def __str__(self) -> str:
        status = f"HTTP {self.status} " if self.status else ""
        return f"{status}{self.error_code}: {self.message}"


class ValidationError(StrataAPIError):
    code = "ValidationException"


class AccessDeniedError(StrataAPIError):
    code = "AccessDeniedException"


class UnrecognizedClientError(AccessDeniedError):
    code = "UnrecognizedClientException"


class InvalidSignatureError(AccessDeniedError):
    code = "InvalidSignatureException"


class ExpiredTokenError(AccessDeniedError):
    """The key set has expired (``--expires-in``, or the grace period after a rotation ended)."""

    code = "ExpiredTokenException"


class IncompleteSignatureError(AccessDeniedError):
    """Ambiguous credentials (a repeated Authorization/x-api-key, or two naming different keys)."""

    code = "IncompleteSignatureException"


class ResourceNotFoundError(StrataAPIError):
    code = "ResourceNotFoundException"


class UnknownOperationError(ResourceNotFoundError):
    code = "UnknownOperationException"


class ThrottlingError(StrataAPIError):
    code, retryable = "ThrottlingException", True


class ServiceQuotaExceededError(StrataAPIError):
    code = "ServiceQuotaExceededException"


class ConflictError(StrataAPIError):
    code = "ConflictException"


class InternalServerError(StrataAPIError):
    code, retryable = "InternalServerException", True


class ServiceUnavailableError(StrataAPIError):
    code, retryable = "ServiceUnavailableException", True


class ModelTimeoutError(StrataAPIError):
    code = "ModelTimeoutException"


class ModelError(StrataAPIError):
    code = "ModelErrorException"


class ModelNotReadyError(StrataAPIError):
    code, retryable = "ModelNotReadyException", True


class ModelStreamError(StrataAPIError):
    code = "ModelStreamErrorException"


class DependencyFailedError(StrataAPIError):
    """Something an agent depends on failed (an action group reported FAILURE, the loop ran out of
    iterations, its model failed)."""

    code = "DependencyFailedException"


class APIConnectionError(StrataAPIError):
    """The gateway could not be reached (refused, reset, DNS). Nothing was processed."""

    code, retryable = "ConnectionError", True


class APITimeoutError(StrataAPIError):
    """No answer within the client's timeout. Not retried: the request may have run."""

    code = "RequestTimeout"


ERRORS_BY_CODE: dict[str, type[StrataAPIError]] = {
    cls.code: cls
    for cls in (
        ValidationError,
        AccessDeniedError,
        UnrecognizedClientError,
        InvalidSignatureError,
        ExpiredTokenError,
        IncompleteSignatureError,
        ResourceNotFoundError,
        UnknownOperationError,
        ThrottlingError,
        ServiceQuotaExceededError,
        ConflictError,
        InternalServerError,
        ServiceUnavailableError,
        ModelTimeoutError,
        ModelError,
        ModelNotReadyError,
        ModelStreamError,
        DependencyFailedError,
    )
}
# Other names AWS uses for the same conditions.
ERRORS_BY_CODE.update(
    {
        "InternalFailure": InternalServerError,
        "TooManyRequestsException": ThrottlingError,
        "ServiceUnavailable": ServiceUnavailableError,
    }
)

_BY_STATUS: dict[int, type[StrataAPIError]] = {
    400: ValidationError,
    401: AccessDeniedError,
    403: AccessDeniedError,
    404: ResourceNotFoundError,
    408: ModelTimeoutError,
    409: ConflictError,
    424: ModelError,
    429: ThrottlingError,
    503: ServiceUnavailableError,
}


def _normalise_code(raw: str) -> str:
    """``com.amazon#ValidationException:http://…`` → ``ValidationException`` (botocore's rule)."""
    return raw.split(":", 1)[0].rsplit("#", 1)[-1].strip()


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """``x-amz-retry-after`` is in milliseconds (AWS); ``retry-after`` in seconds (HTTP)."""
    for name, scale in (("x-amz-retry-after", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue
    return None


def error_from_response(status: int, headers: Mapping[str, str], content: bytes) -> StrataAPIError:
    """Build the typed error for an HTTP error response from either API family."""
    try:
        body: Any = json.loads(content) if content else {}
    except ValueError:
        body = {"message": content.decode("utf-8", "replace")[:500]}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    openai_error = body.get("error") if isinstance(body.get("error"), dict) else None
    raw_code = headers.get("x-amzn-errortype") or body.get("__type") or (openai_error or {}).get("code") or ""
    message = body.get("message") or body.get("Message") or (openai_error or {}).get("message") or ""
    code = _normalise_code(str(raw_code)) if raw_code else ""
    cls = ERRORS_BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else StrataAPIError
    return cls(
        str(message) or f"HTTP {status}",
        status=status,
        request_id=headers.get("x-amzn-requestid") or headers.get("x-request-id"),
        retry_after_s=_retry_after(headers),
        body=body,
        code=code or None,
    )


def error_from_stream_exception(headers: Mapping[str, Any], payload: bytes) -> StrataAPIError:
    """An ``exception``/``error`` message inside an event stream (HTTP status already 200)."""
    if headers.get(":message-type") == "error":
        code = str(headers.get(":error-code") or "InternalFailure")
        return ERRORS_BY_CODE.get(code, InternalServerError)(
            str(headers.get(":error-message") or ""), code=code
        )
    name = str(headers.get(":exception-type") or "internalServerException")
    code = name[:1].upper() + name[1:]  # members are camelCase: modelStreamErrorException
    try:
        body = json.loads(payload) if payload else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    message = body.get("message") or body.get("Message") or ""
    return ERRORS_BY_CODE.get(code, StrataAPIError)(str(message), body=body, code=code)
