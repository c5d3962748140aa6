"""Gateway settings, read once (pydantic-settings, env prefix ``STRATA_``) and injected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from strata.home import ensure_dir, strata_home


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRATA_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    # strata.toml (providers, models, routes, quotas). None: $STRATA_HOME/strata.toml if it
    # exists, else the embedded defaults (local llama.cpp model + local embeddings).
    config_file: Path | None = None
    region: str = "us-east-1"
    # Regions a SigV4 credential scope may name (clients sign with their region_name); empty = only
    # `region`. STRATA_ACCEPTED_REGIONS="us-east-1,eu-west-1" (or a JSON list).
    accepted_regions: Annotated[list[str], NoDecode] = []
    account_id: str = "000000000000"
    # Reject SigV4 signatures whose X-Amz-Date is further than this from the server clock.
    max_clock_skew_s: int = 300
    # Shared rate-limit/cache state for several replicas; None = in-process + SQLite.
    redis_url: str | None = None
    # Bedrock-style model-invocation log (JSONL); None = off.
    invocation_log: Path | None = None
    # Also log request/response bodies (messages and answers) in the invocation log: opt-in,
    # since they may hold personal data.
    invocation_log_bodies: bool = False
    request_timeout_s: float = 120.0
    # Largest request body accepted, checked while it is read (before authentication). AWS: 25 MB is
    # the largest body any bedrock-runtime operation takes (InvokeModel's `body` blob, max 25000000
    # in botocore's service model); Anthropic's Bedrock docs give 20 MB per request.
    max_request_body_bytes: int = Field(25_000_000, ge=1)
    # Proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated IPs or "*"), e.g. a
    # load balancer's subnet; None: such headers are ignored.
    forwarded_allow_ips: str | None = None
    # Close a connection whose request headers are not complete this long after their first byte
    # (uvicorn has no such timeout: a client trickling headers would hold a connection forever).
    header_timeout_s: float = Field(10.0, gt=0)
    # Per-tenant rate limits for tenants without their own (`strata keys create --rpm/--tpm`);
    # None = unlimited.
    default_requests_per_minute: int | None = None
    default_tokens_per_minute: int | None = None
    # Fernet key sealing SigV4 secrets in the key store; None = $STRATA_HOME/keystore.key (0600).
    keystore_key: SecretStr | None = None
    home: Path | None = None
    # One `strata.access` log line per request (time, tenant, operation, model, status, tokens,
    # ms; never prompt text). None: the command decides (`strata up` on, `strata serve` off).
    access_log: bool | None = None
    # GET /metrics carries per-tenant requests, tokens and cost, so it is off the main port unless
    # a scraper presents `Authorization: Bearer <metrics_token>` there; metrics_port instead opens
    # a separate listener (on metrics_host) serving only /metrics and /health. Neither: a 404.
    metrics_token: SecretStr | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # /docs, /redoc and /openapi.json (a map of every route): off unless STRATA_DOCS=true.
    docs: bool = False
    # The admin API (/strata/v1/admin/...: tenants, keys, everyone's usage) answers only
    # `Authorization: Bearer <admin_token>`; unset, it is off. Keep it in a secrets manager.
    admin_token: SecretStr | None = None

    @field_validator("accepted_regions", mode="before")
    @classmethod
    def _regions_from_text(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [region.strip() for region in text.split(",") if region.strip()]

    @field_validator("metrics_token", "admin_token")
    @classmethod
    def _blank_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        # STRATA_METRICS_TOKEN= (empty) must not turn "Authorization: Bearer" into a valid token.
        return value if value is not None and value.get_secret_value().strip() else None

    def signing_regions(self) -> tuple[str, ...]:
        """The regions a SigV4 credential scope may name."""
        return tuple(self.accepted_regions) or (self.region,)

    def state_dir(self) -> Path:
        # One clear error (naming the path) when the directory cannot be created.
        return ensure_dir(self.home) if self.home is not None else strata_home()
