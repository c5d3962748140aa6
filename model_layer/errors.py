"""The gateway's one error hierarchy, keyed by Bedrock error code and HTTP status.

Raised everywhere in ``model_layer``; rendered by one handler per API family
(``render_bedrock_error`` for the AWS routes, ``render_openai_error`` for ``/v1``); mapped back to
typed exceptions by ``model_layer.sdk``. Statuses follow botocore's service models, which differ
by service for a few codes (see ``_SERVICE_STATUS``).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Literal

from fastapi.responses import JSONResponse

from strata.errors import StrataError

Service = Literal["bedrock-runtime", "bedrock", "bedrock-agent", "bedrock-agent-runtime", "openai"]


class GatewayError(StrataError):
    """Base: ``code`` is the Bedrock error name, ``status`` the default HTTP status."""

    code: ClassVar[str] = "InternalServerException"
    status: ClassVar[int] = 500
    openai_type: ClassVar[str] = "server_error"
    # OpenAI's status where it differs from AWS's for the same failure (None: ``status_for`` decides).
    openai_status: ClassVar[int | None] = None
    retryable: ClassVar[bool] = False

    def __init__(
        self, message: str, *, extra: dict[str, Any] | None = None, retry_after_s: float | None = None
    ):
        super().__init__(message)
        self.extra = extra or {}
        self.retry_after_s = retry_after_s

    def status_for(self, service: Service) -> int:
        if service == "openai" and self.openai_status is not None:
            return self.openai_status
        return _SERVICE_STATUS.get((self.code, service), self.status)

    def openai_code(self) -> str | None:
        """``error.code`` in OpenAI's shape: the Bedrock code unless OpenAI names the failure."""
        return self.code

    def openai_message(self) -> str:
        """``error.message`` in OpenAI's shape: the same message unless OpenAI words it otherwise."""
        return self.message

    def openai_param(self) -> str | None:
        """``error.param`` in OpenAI's shape: the request field at fault, if known."""
        return self.extra.get("param")


class ValidationException(GatewayError):
    code, status, openai_type = "ValidationException", 400, "invalid_request_error"


class ContextWindowExceeded(ValidationException):
    """The prompt (+ the ``max_tokens`` the client asked for) does not fit the model's context
    window: refused before the model runs, worded as Bedrock (Anthropic) and OpenAI word it."""

    def __init__(self, prompt_tokens: int, max_tokens: int | None, window: int):
        self.prompt_tokens, self.max_tokens, self.window = prompt_tokens, max_tokens, window
        if max_tokens is None:
            message = (
                f"prompt is too long for the model's context window: {prompt_tokens} tokens > "
                f"{window} maximum"
            )
        else:
            message = (
                f"input length and `max_tokens` exceed context limit: {prompt_tokens} + {max_tokens} > "
                f"{window}, decrease input length or `max_tokens` and try again"
            )
        super().__init__(message)

    def openai_code(self) -> str | None:
        return "context_length_exceeded"

    def openai_message(self) -> str:
        head = f"This model's maximum context length is {self.window} tokens. However, "
        if self.max_tokens is None:
            return head + (
                f"your messages resulted in {self.prompt_tokens} tokens. "
                "Please reduce the length of the messages."
            )
        return head + (
            f"you requested {self.prompt_tokens + self.max_tokens} tokens ({self.prompt_tokens} in "
            f"the messages, {self.max_tokens} in the completion). Please reduce the length of the "
            "messages or completion."
        )

    def openai_param(self) -> str | None:
        return "messages"


class MaxTokensTooLarge(ValidationException):
    """``maxTokens`` above the serving model's context window, worded as Bedrock and OpenAI word it."""

    def __init__(self, max_tokens: int, window: int):
        self.max_tokens, self.window = max_tokens, window
        super().__init__(
            f"The maximum tokens you requested exceeds the model limit of {window}. "
            f"Try again with a maximum tokens value that is lower than {window}."
        )

    def openai_message(self) -> str:
        return (
            f"max_tokens is too large: {self.max_tokens}. This model supports at most {self.window} "
            f"completion tokens, whereas you provided {self.max_tokens}."
        )

    def openai_param(self) -> str | None:
        return "max_tokens"


class AccessDeniedException(GatewayError):
    code, status, openai_type = "AccessDeniedException", 403, "authentication_error"


class CredentialsRejected(AccessDeniedException):
    """The request's credentials are missing or not accepted: AWS answers 403, OpenAI 401.

    OpenAI's SDK raises ``AuthenticationError`` only for a 401 with ``code: invalid_api_key``;
    authorization failures (a known caller denied something) stay plain ``AccessDeniedException``.
    """

    openai_type, openai_status = "invalid_request_error", 401

    def openai_code(self) -> str | None:
        return "invalid_api_key"


class MissingAuthenticationToken(CredentialsRejected):
    """No credentials at all (AWS's code stays AccessDeniedException; OpenAI sends code null)."""

    def openai_code(self) -> str | None:
        return None


class UnrecognizedClientException(CredentialsRejected):
    """Unknown or revoked access key / API key, or any session token (the gateway issues none)."""

    code = "UnrecognizedClientException"


class InvalidSignatureException(CredentialsRejected):
    """SigV4 signature mismatch, clock skew, wrong credential scope, or malformed Authorization."""

    code = "InvalidSignatureException"


class ExpiredTokenException(CredentialsRejected):
    """A key set past its expiry (``strata keys create --expires-in``, or a rotated key's grace)."""

    code = "ExpiredTokenException"


class IncompleteSignatureException(CredentialsRejected):
    """Ambiguous credentials: a repeated Authorization/x-api-key, or two that name different keys."""

    code = "IncompleteSignatureException"


class ResourceNotFoundException(GatewayError):
    code, status, openai_type = "ResourceNotFoundException", 404, "not_found_error"


class UnknownOperationException(GatewayError):
    code, status, openai_type = "UnknownOperationException", 404, "not_found_error"


class ThrottlingException(GatewayError):
    code, status, openai_type, retryable = "ThrottlingException", 429, "rate_limit_error", True


class ServiceQuotaExceededException(GatewayError):
    code, status, openai_type = "ServiceQuotaExceededException", 400, "insufficient_quota"

    def openai_code(self) -> str | None:
        return "insufficient_quota"  # what OpenAI clients check for a spent budget


class ConflictException(GatewayError):
    code, status, openai_type = "ConflictException", 400, "conflict_error"


class InternalServerException(GatewayError):
    code, status, openai_type, retryable = "InternalServerException", 500, "server_error", True


class ServiceUnavailableException(GatewayError):
    code, status, openai_type, retryable = "ServiceUnavailableException", 503, "server_error", True


class ModelTimeoutException(GatewayError):
    code, status, openai_type = "ModelTimeoutException", 408, "timeout_error"


class ModelErrorException(GatewayError):
    code, status, openai_type = "ModelErrorException", 424, "server_error"


class ModelNotReadyException(GatewayError):
    code, status, openai_type, retryable = "ModelNotReadyException", 429, "server_error", True


class ModelStreamErrorException(GatewayError):
    code, status, openai_type = "ModelStreamErrorException", 424, "server_error"


class DependencyFailedException(GatewayError):
    """Something an agent depends on failed (an action group's function said FAILURE, the loop ran
    out of iterations); ``extra`` may carry ``resourceName``."""

    code, status, openai_type = "DependencyFailedException", 424, "server_error"


# (code, service) -> status where a service's model differs from the default.
_SERVICE_STATUS: dict[tuple[str, Service], int] = {
    ("ConflictException", "bedrock-agent"): 409,
    ("ConflictException", "bedrock-agent-runtime"): 409,
    ("ServiceQuotaExceededException", "bedrock-agent"): 402,
    ("ModelNotReadyException", "bedrock-agent-runtime"): 424,
    ("ConflictException", "openai"): 409,
    ("ServiceQuotaExceededException", "openai"): 429,
    ("ModelTimeoutException", "openai"): 504,
    ("ModelErrorException", "openai"): 502,
    ("ModelNotReadyException", "openai"): 503,
}


def new_request_id() -> str:
    return str(uuid.uuid4())


def render_bedrock_error(exc: GatewayError, service: Service, request_id: str | None = None) -> JSONResponse:
    """The rest-json error botocore parses into the modeled exception class."""
    rid = request_id or new_request_id()
    headers = {"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": rid}
    if exc.retry_after_s is not None:
        headers["x-amz-retry-after"] = str(int(exc.retry_after_s * 1000))
    body = {"message": exc.message, **exc.extra}
    return JSONResponse(body, status_code=exc.status_for(service), headers=headers)


def render_openai_error(exc: GatewayError, request_id: str | None = None) -> JSONResponse:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    # x-should-retry: the openai SDK retries 408/409/429/5xx unless told otherwise; a spent budget
    # (429) or a model error has nothing to gain from it (the gateway already retried upstream).
    headers = {
        "x-request-id": request_id or new_request_id(),
        "x-should-retry": "true" if exc.retryable else "false",
    }
    if exc.retry_after_s is not None:
        headers["retry-after"] = str(max(1, round(exc.retry_after_s)))
    body = {
        "error": {
            "message": exc.openai_message(),
            "type": exc.openai_type,
            "param": exc.openai_param(),
            "code": exc.openai_code(),
        }
    }
    return JSONResponse(body, status_code=exc.status_for("openai"), headers=headers)
