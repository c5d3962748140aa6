"""Gateway settings, read once (pydantic-settings, env prefix ``STRATA_``) and injected."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from strata.home import strata_home


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRATA_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    # strata.toml (providers, models, routes, quotas). None: $STRATA_HOME/strata.toml if it
    # exists, else the embedded defaults (local llama.cpp model + local embeddings).
    config_file: Path | None = None
    region: str = "us-east-1"
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
    # Per-tenant rate limits for tenants without their own (`strata keys create --rpm/--tpm`);
    # None = unlimited.
    default_requests_per_minute: int | None = None
    default_tokens_per_minute: int | None = None
    # Fernet key sealing SigV4 secrets in the key store; None = $STRATA_HOME/keystore.key (0600).
    keystore_key: SecretStr | None = None
    home: Path | None = None

    def state_dir(self) -> Path:
        if self.home is not None:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            return self.home
        return strata_home()
