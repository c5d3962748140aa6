"""boto3 clients for the provisioner and the translation of AWS failures into one-line StrataErrors.

Users of ``strata provision`` should see "no AWS credentials found" or "SageMaker said
ResourceLimitExceeded: ..." rather than a botocore traceback; this module owns that mapping,
keyed on botocore's exception classes and AWS error codes (never on message text).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from strata.errors import ConfigurationError, StrataError


class AwsError(StrataError):
    """AWS refused or could not be reached; the message names the operation and AWS's error code."""


@dataclass(frozen=True)
class Clients:
    """The two AWS services a SageMaker endpoint with autoscaling spans."""

    sagemaker: Any
    autoscaling: Any
    region: str


def resolve_region(region: str | None) -> str:
    import boto3

    resolved = region or boto3.session.Session().region_name or os.environ.get("AWS_REGION")
    if not resolved:
        raise ConfigurationError("no AWS region given", hint="pass --region or set AWS_DEFAULT_REGION")
    return resolved


def make_clients(region: str | None) -> Clients:
    """Clients for ``region``; credentials come from the usual boto3 chain (env, profile, role)."""
    import boto3

    resolved = resolve_region(region)
    session = boto3.session.Session(region_name=resolved)
    with aws_errors(resolved):
        return Clients(session.client("sagemaker"), session.client("application-autoscaling"), resolved)


@contextmanager
def aws_errors(region: str) -> Iterator[None]:
    """Re-raise botocore failures as :class:`AwsError` with a message a user can act on."""
    from botocore import exceptions as bx

    try:
        yield
    except (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError):
        raise AwsError(
            "no AWS credentials found", hint="configure credentials (aws configure, AWS_PROFILE or env)"
        ) from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
        raise AwsError(f"cannot reach AWS in region {region}: {exc}", hint="check network/region") from None
    except bx.NoRegionError:
        raise ConfigurationError("no AWS region given", hint="pass --region") from None
    except bx.ClientError as exc:
        raise client_error(exc) from None
    except bx.ParamValidationError as exc:
        raise AwsError(f"invalid request: {exc}") from None


def client_error(exc: Any) -> AwsError:
    err = exc.response.get("Error", {})
    code = err.get("Code", "Unknown")
    op = getattr(exc, "operation_name", "AWS call")
    hint = None
    if code in ("UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException"):
        hint = "your AWS credentials were rejected; refresh them"
    elif code in ("AccessDeniedException", "AccessDenied"):
        hint = f"the caller lacks permission for {op}"
    elif code == "ResourceLimitExceeded":
        hint = "request a SageMaker quota increase for this instance type"
    return AwsError(f"{op} failed: {code}: {err.get('Message', '').strip()}", hint=hint)
