"""Authentication: every request resolves to a :class:`~model_layer.types.Tenant`, or is refused.

Accepted credentials, all issued by ``strata keys create`` (:mod:`model_layer.auth.keystore`):
SigV4 (``Authorization: AWS4-HMAC-SHA256 …``, what boto3 and langchain-aws send; its scope must
name one of the gateway's regions), a bearer API key (``Authorization: Bearer sk-strata-…``: OpenAI
clients and Bedrock API-key clients) and ``x-api-key``. Refused before any key lookup: a repeated
``Authorization`` or ``x-api-key`` (the first would win and another tenant could be billed) and any
``X-Amz-Security-Token`` (the gateway issues no session credentials, so every token is unknown).
An ``Authorization`` and an ``x-api-key`` together must name the same key. Failures raise
``model_layer.errors`` classes with AWS's codes and messages; the app renders them per API family
(403 on the AWS routes, 401 under ``/v1``). Secrets are never logged nor echoed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from starlette.requests import Request

from model_layer.auth.credentials import Credentials
from model_layer.auth.keystore import KeyStore
from model_layer.auth.sigv4 import (
    ALGORITHM,
    SIGNATURE_MISMATCH,
    check_region,
    check_request_time,
    expected_signature,
    parse_authorization,
    signatures_match,
)
from model_layer.errors import (
    ExpiredTokenException,
    GatewayError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationToken,
    UnrecognizedClientException,
)
from model_layer.settings import GatewaySettings
from model_layer.types import Tenant

__all__ = ["Authenticator", "Credentials", "KeyStore", "build_authenticator"]

MISSING_AUTH = (
    "Missing Authentication Token: sign the request with SigV4 or send an API key "
    "(Authorization: Bearer <key> or x-api-key)."
)
UNKNOWN_TOKEN = "The security token included in the request is invalid."
UNKNOWN_API_KEY = "The API key included in the request is invalid or revoked."
EXPIRED_TOKEN = "The security token included in the request is expired."
EXPIRED_API_KEY = "The API key included in the request is expired."
REPEATED_CREDENTIAL = "The request carries more than one {header} header; send exactly one credential."
CONFLICTING_CREDENTIALS = (
    "The Authorization and x-api-key headers name different credentials; send one credential."
)
DEFAULT_REGIONS = ("us-east-1",)  # GatewaySettings.region's default

# Called with the failure's error code; the gateway's metrics count auth failures with it.
FailureHook = Callable[[str], None]


class Authenticator:
    """``await authenticate(request) -> Tenant``; see the module docstring for what it accepts.

    Keys are resolved through :class:`~model_layer.auth.credentials.Credentials` (an in-memory
    cache the state revision invalidates), so the steady state does no I/O; the tenant comes back
    with its policy (limits, allowed models, budgets).
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        regions: Collection[str] | None = None,
        max_clock_skew_s: int = 300,
        clock: Callable[[], float] = time.time,
        on_failure: FailureHook | None = None,
    ):
        self.credentials = credentials
        # None: the serving app's settings decide per request (GatewaySettings.signing_regions),
        # so the region in ARNs and the region a signature must name come from one place.
        self.regions = tuple(regions) if regions is not None else None
        self.max_clock_skew_s = max_clock_skew_s
        self._clock = clock
        self._on_failure = on_failure

    async def authenticate(self, request: Request) -> Tenant:
        try:
            return await self._authenticate(request)
        except GatewayError as exc:
            if self._on_failure is not None:
                self._on_failure(exc.code)
            raise

    async def _authenticate(self, request: Request) -> Tenant:
        authorization, api_key = _credentials(request)
        tenant = None
        if authorization.startswith(ALGORITHM):
            tenant = await self._sigv4(request, authorization)
        else:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                tenant = await self._api_key(token.strip())
        if api_key:
            by_api_key = await self._api_key(api_key)
            if tenant is not None and _key_of(tenant) != _key_of(by_api_key):
                raise IncompleteSignatureException(CONFLICTING_CREDENTIALS)
            return by_api_key
        if tenant is None:
            raise MissingAuthenticationToken(MISSING_AUTH)
        return tenant

    async def _api_key(self, api_key: str) -> Tenant:
        found = await self.credentials.by_api_key(api_key)
        if found is None:
            raise UnrecognizedClientException(UNKNOWN_API_KEY)
        if found.expired(self._clock()):
            raise ExpiredTokenException(EXPIRED_API_KEY)
        return found.tenant

    async def _sigv4(self, request: Request, authorization: str) -> Tenant:
        auth = parse_authorization(authorization)
        check_region(auth, self._regions_for(request))
        amz_date = request.headers.get("x-amz-date")
        now = datetime.fromtimestamp(self._clock(), UTC)
        check_request_time(amz_date, auth, now, self.max_clock_skew_s)
        found = await self.credentials.by_access_key(auth.access_key_id)
        if found is None:
            raise UnrecognizedClientException(UNKNOWN_TOKEN)
        if found.expired(self._clock()):
            raise ExpiredTokenException(EXPIRED_TOKEN)
        expected = expected_signature(
            auth=auth,
            secret_access_key=found.secret or "",
            method=request.method,
            raw_path=_raw_path(request),
            query_string=request.scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
            body=await request.body(),
            amz_date=amz_date or "",
        )
        if not signatures_match(expected, auth.signature):
            raise InvalidSignatureException(SIGNATURE_MISMATCH)
        return found.tenant

    def _regions_for(self, request: Request) -> Collection[str]:
        if self.regions is not None:
            return self.regions
        settings = getattr(request.app.state, "settings", None)
        return settings.signing_regions() if settings is not None else DEFAULT_REGIONS


def _key_of(tenant: Tenant) -> tuple[str, str]:
    # Identity only: the tenant's policy may have changed between the two lookups.
    return tenant.tenant_id, tenant.key_id


def _credentials(request: Request) -> tuple[str, str]:
    """The request's one ``Authorization`` and one ``x-api-key`` value ("" when absent).

    Refuses what would let the wrong credential win: repeats (Starlette's ``get`` returns the
    first, a proxy may use the last) and session tokens, which this gateway never issues.
    """
    headers = request.headers
    for name in ("authorization", "x-api-key"):
        if len(headers.getlist(name)) > 1:
            raise IncompleteSignatureException(REPEATED_CREDENTIAL.format(header=name))
    if "x-amz-security-token" in headers:
        raise UnrecognizedClientException(UNKNOWN_TOKEN)
    return headers.get("authorization", "").strip(), headers.get("x-api-key", "").strip()


def _raw_path(request: Request) -> str:
    """The path as the client sent it (still percent-encoded), including any mount prefix."""
    raw = request.scope.get("raw_path")
    if raw:
        return raw.decode("latin-1")
    return request.scope.get("root_path", "") + request.scope["path"]


def build_authenticator(settings: GatewaySettings, credentials: Credentials) -> Authenticator:
    """The gateway's authenticator over ``credentials`` (see :func:`model_layer.app.assemble`)."""
    from model_layer.tenancy.metrics import DEFAULT_METRICS

    return Authenticator(
        credentials,
        max_clock_skew_s=settings.max_clock_skew_s,
        on_failure=DEFAULT_METRICS.auth_failure,
    )
