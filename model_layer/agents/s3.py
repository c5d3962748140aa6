"""Reading an action group's OpenAPI schema from S3 (``apiSchema.s3``).

The gateway reads the object with boto3's default configuration: credentials and endpoint from the
environment (``AWS_ENDPOINT_URL_S3`` points it at a local S3 such as moto's server). Any failure
is a ``ValidationException`` naming the object, never the caller's credentials or a traceback.
"""

from __future__ import annotations

import logging

from model_layer.errors import ValidationException

log = logging.getLogger("strata.agents")
MAX_SCHEMA_BYTES = 1_000_000


def fetch_schema(bucket: str, key: str) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"s3://{bucket}/{key}"
    try:
        obj = boto3.client("s3").get_object(Bucket=bucket, Key=key)
        data = obj["Body"].read(MAX_SCHEMA_BYTES + 1)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ValidationException(f"apiSchema.s3: cannot read {where} ({code})") from None
    except BotoCoreError as exc:
        log.warning("reading %s failed: %s", where, exc)
        raise ValidationException(f"apiSchema.s3: cannot read {where} ({type(exc).__name__})") from None
    if len(data) > MAX_SCHEMA_BYTES:
        raise ValidationException(f"apiSchema.s3: {where} is larger than {MAX_SCHEMA_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationException(f"apiSchema.s3: {where} is not UTF-8 text") from None
