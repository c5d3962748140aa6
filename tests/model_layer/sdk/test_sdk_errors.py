"""Error responses from every API family map into the SDK's one typed tree."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from model_layer import sdk
from model_layer.sdk.errors import ERRORS_BY_CODE, error_from_response, error_from_stream_exception


def _bedrock(code: str, status: int, message: str = "boom", **headers: str):
    return (
        status,
        {"x-amzn-errortype": code, "x-amzn-requestid": "rid", **headers},
        json.dumps({"message": message}).encode(),
    )


def _openai(code: str, status: int, message: str = "boom", **headers: str):
    body = {"error": {"message": message, "type": "x", "param": None, "code": code}}
    return status, {"x-request-id": "rid", **headers}, json.dumps(body).encode()


@pytest.mark.parametrize(
    ("response", "cls", "retry_after"),
    [
        (_bedrock("ValidationException", 400), sdk.ValidationError, None),
        (_bedrock("UnrecognizedClientException", 403), sdk.UnrecognizedClientError, None),
        (_bedrock("InvalidSignatureException", 403), sdk.InvalidSignatureError, None),
        (_bedrock("AccessDeniedException", 403), sdk.AccessDeniedError, None),
        (_bedrock("ResourceNotFoundException", 404), sdk.ResourceNotFoundError, None),
        (_bedrock("UnknownOperationException", 404), sdk.UnknownOperationError, None),
        (_bedrock("ThrottlingException", 429, **{"x-amz-retry-after": "1500"}), sdk.ThrottlingError, 1.5),
        (_bedrock("ModelTimeoutException", 408), sdk.ModelTimeoutError, None),
        (_bedrock("ModelErrorException", 424), sdk.ModelError, None),
        (_bedrock("ModelNotReadyException", 429), sdk.ModelNotReadyError, None),
        (_bedrock("ServiceUnavailableException", 503), sdk.ServiceUnavailableError, None),
        (_bedrock("ServiceQuotaExceededException", 400), sdk.ServiceQuotaExceededError, None),
        (_bedrock("ConflictException", 409), sdk.ConflictError, None),
        (_bedrock("com.amazon.bedrock#ValidationException:http://x", 400), sdk.ValidationError, None),
        (_openai("ThrottlingException", 429, **{"retry-after": "2"}), sdk.ThrottlingError, 2.0),
        (_openai("ModelTimeoutException", 504), sdk.ModelTimeoutError, None),
        ((500, {}, b"<html>oops</html>"), sdk.InternalServerError, None),
        ((502, {}, b""), sdk.InternalServerError, None),
        ((503, {}, b""), sdk.ServiceUnavailableError, None),
        ((429, {}, b"{}"), sdk.ThrottlingError, None),
        ((418, {}, b"{}"), sdk.StrataAPIError, None),
    ],
)
def test_error_from_response(response, cls, retry_after):
    status, headers, content = response
    error = error_from_response(status, headers, content)
    assert type(error) is cls
    assert error.status == status
    assert error.retry_after_s == retry_after
    if headers:
        assert error.request_id == "rid" and error.message == "boom"
    assert isinstance(error, sdk.StrataAPIError)


def test_retryable_classes():
    retryable = {c for c in set(ERRORS_BY_CODE.values()) if c.retryable}
    assert retryable == {
        sdk.ThrottlingError,
        sdk.InternalServerError,
        sdk.ServiceUnavailableError,
        sdk.ModelNotReadyError,
    }
    assert sdk.APIConnectionError.retryable and not sdk.APITimeoutError.retryable


def test_stream_exceptions():
    error = error_from_stream_exception(
        {":message-type": "exception", ":exception-type": "modelStreamErrorException"},
        b'{"message": "boom", "originalStatusCode": 500}',
    )
    assert type(error) is sdk.ModelStreamError and error.message == "boom"
    assert error.body["originalStatusCode"] == 500
    throttled = error_from_stream_exception(
        {":message-type": "exception", ":exception-type": "throttlingException"}, b'{"message": "slow"}'
    )
    assert type(throttled) is sdk.ThrottlingError
    failure = error_from_stream_exception(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "bad"}, b""
    )
    assert type(failure) is sdk.InternalServerError and failure.message == "bad"


def test_errors_print_as_one_line():
    error = error_from_response(*_bedrock("ValidationException", 400, "messages is empty"))
    assert str(error) == "HTTP 400 ValidationException: messages is empty"


def test_sdk_imports_no_server_code():
    """Apps run the SDK on other machines: importing it must not pull in the gateway or FastAPI."""
    code = (
        "import sys, model_layer.sdk, model_layer.sdk.langchain;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'uvicorn')"
        " or (m.startswith('model_layer.') and not m.startswith('model_layer.sdk')));"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
