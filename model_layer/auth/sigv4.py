"""SigV4 verification: parse the Authorization header and recompute the signature with botocore.

The signature is recomputed with botocore's own ``SigV4Auth`` (the code that signed it on the
client side), fed the request exactly as received: the raw, still percent-encoded path including
any ``endpoint_url`` prefix, the raw query string, the client's *SignedHeaders* list (not
botocore's default selection, so other SDKs that sign more headers verify too) and the body.
The credential scope must name an accepted region, a Bedrock service and ``aws4_request``, as AWS
checks it before the signature. Pure functions; the Starlette side lives in :mod:`model_layer.auth`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from model_layer.errors import InvalidSignatureException

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "bedrock"  # what botocore signs every Bedrock client with (the models' signingName)
# One base URL serves all four Bedrock APIs; a client signing with the API's own name is fine.
SERVICES = frozenset({SERVICE, "bedrock-runtime", "bedrock-agent", "bedrock-agent-runtime"})
TERMINATOR = "aws4_request"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
_AUTH_PART = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]+)")


@dataclass(frozen=True)
class SigV4Authorization:
    """The parts of ``Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…``."""

    access_key_id: str
    date: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> SigV4Authorization:
    """Parse a SigV4 Authorization header; raise ``InvalidSignatureException`` if malformed."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise InvalidSignatureException(f"Unsupported signing algorithm {algorithm!r}; use {ALGORITHM}.")
    parts = dict(_AUTH_PART.findall(rest))
    missing = [p for p in ("Credential", "SignedHeaders", "Signature") if p not in parts]
    if missing:
        # AWS echoes the header here; we don't: the reply must not carry credential material.
        raise InvalidSignatureException(f"Authorization header requires '{missing[0]}' parameter.")
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != TERMINATOR:
        raise InvalidSignatureException(
            f"Credential should be of the form <access key>/<YYYYMMDD>/<region>/<service>/{TERMINATOR}."
        )
    akid, date, region, service, _ = scope
    if service not in SERVICES:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{SERVICE}'.")
    signed = tuple(h.strip().lower() for h in parts["SignedHeaders"].split(";") if h.strip())
    if "host" not in signed:
        raise InvalidSignatureException("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    return SigV4Authorization(akid, date, region, service, signed, parts["Signature"].lower())


def check_region(auth: SigV4Authorization, regions: Collection[str]) -> None:
    """Reject a credential scope for a region this gateway does not serve (AWS's wording first)."""
    if auth.region not in regions:
        accepted = ", ".join(f"'{r}'" for r in sorted(regions))
        raise InvalidSignatureException(
            f"Credential should be scoped to a valid region, not '{auth.region[:64]}'. "
            f"This gateway accepts {accepted}."
        )


def check_request_time(
    amz_date: str | None, auth: SigV4Authorization, now: datetime, max_skew_s: int
) -> None:
    """Reject a missing or malformed X-Amz-Date, a scope date that disagrees, and clock skew."""
    if not amz_date:
        raise InvalidSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    try:
        when = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidSignatureException(
            f"Invalid X-Amz-Date {amz_date!r}; expected YYYYMMDDTHHMMSSZ."
        ) from exc
    if amz_date[:8] != auth.date:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.date}' != '{amz_date[:8]}', from 'X-Amz-Date'."
        )
    skew = timedelta(seconds=max_skew_s)
    minutes = f"{max_skew_s // 60} min." if max_skew_s % 60 == 0 else f"{max_skew_s} s."
    stamp = now.strftime(AMZ_DATE_FORMAT)
    if when < now - skew:
        earliest = (now - skew).strftime(AMZ_DATE_FORMAT)
        raise InvalidSignatureException(
            f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - {minutes})"
        )
    if when > now + skew:
        latest = (now + skew).strftime(AMZ_DATE_FORMAT)
        raise InvalidSignatureException(
            f"Signature not yet current: {amz_date} is still later than {latest} ({stamp} + {minutes})"
        )


class _ReceivedRequestSigner(SigV4Auth):
    """botocore's signer, restricted to the headers the client says it signed."""

    def __init__(self, credentials: Credentials, service: str, region: str, signed: HTTPHeaders):
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed


def expected_signature(
    *,
    auth: SigV4Authorization,
    secret_access_key: str,
    method: str,
    raw_path: str,
    query_string: str,
    headers: list[tuple[str, str]],
    body: bytes,
    amz_date: str,
) -> str:
    """The signature a client holding ``secret_access_key`` would have sent for this request.

    ``headers`` are the received (name, value) pairs; repeated names are kept, as SigV4 joins them.
    """
    signed = HTTPHeaders()
    for name, value in headers:
        if name.lower() in auth.signed_headers:
            signed[name.lower()] = value  # HTTPHeaders appends on repeat, like the wire
    absent = [h for h in auth.signed_headers if h not in signed]
    if absent:
        raise InvalidSignatureException(f"Signed header {absent[0]!r} is missing from the request.")
    content_sha = signed.get("x-amz-content-sha256")
    if content_sha is not None and content_sha != hashlib.sha256(body).hexdigest():
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match the body.")
    url = f"http://{signed['host']}{raw_path}" + (f"?{query_string}" if query_string else "")
    # http:// so botocore always hashes the payload (it may skip it for https only).
    request = AWSRequest(method=method, url=url, data=body, headers={})
    request.context["timestamp"] = amz_date
    credentials = Credentials(auth.access_key_id, secret_access_key)
    signer = _ReceivedRequestSigner(credentials, auth.service, auth.region, signed)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


def signatures_match(expected: str, received: str) -> bool:
    return hmac.compare_digest(expected.encode(), received.encode())
