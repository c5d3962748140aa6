"""Tenancy: per-tenant rate limits, usage metering, metrics and the invocation log.

``build_limiter`` and ``build_meter`` give the service its ``Limiter`` and ``Meter``
(:mod:`model_layer.service`) from settings: in-process buckets, or Redis when
``STRATA_REDIS_URL`` is set so several replicas share limits; usage in ``usage.db`` next to the
key store; the JSONL invocation log when ``STRATA_INVOCATION_LOG`` is set.
"""

from __future__ import annotations

from model_layer.auth.keystore import KeyStore
from model_layer.settings import GatewaySettings
from model_layer.tenancy.buckets import BucketStore, InProcessBuckets, Limits
from model_layer.tenancy.limiter import PolicyLookup, RateLimiter
from model_layer.tenancy.metering import DB_FILE_NAME, InvocationLog, UsageMeter, UsageStore
from model_layer.tenancy.metrics import DEFAULT_METRICS, GatewayMetrics

__all__ = [
    "GatewayMetrics",
    "Limits",
    "RateLimiter",
    "UsageMeter",
    "UsageStore",
    "build_limiter",
    "build_meter",
    "default_limits",
    "limits_from_keystore",
]


def default_limits(settings: GatewaySettings) -> Limits:
    """``STRATA_DEFAULT_*_PER_MINUTE`` where set, else ``[quotas]`` in strata.toml."""
    from model_layer.config import load_config

    quotas = load_config(settings.config_file, home=settings.state_dir()).quotas
    return Limits(
        requests_per_minute=settings.default_requests_per_minute or quotas.requests_per_minute,
        tokens_per_minute=settings.default_tokens_per_minute or quotas.tokens_per_minute,
    )


def limits_from_keystore(keys: KeyStore) -> PolicyLookup:
    """A tenant's own limits from the key store (until policies arrive with the credentials)."""
    from model_layer.types import TenantPolicy

    def lookup(tenant_id: str) -> TenantPolicy:
        tenant = keys.get_tenant(tenant_id)
        if tenant is None:
            return TenantPolicy()
        return TenantPolicy(tenant.requests_per_minute, tenant.tokens_per_minute)

    return lookup


def build_bucket_store(settings: GatewaySettings) -> BucketStore:
    if settings.redis_url:
        from model_layer.tenancy.redis_buckets import RedisBuckets

        return RedisBuckets(settings.redis_url)
    return InProcessBuckets()


def build_limiter(settings: GatewaySettings, metrics: GatewayMetrics = DEFAULT_METRICS) -> RateLimiter:
    lookup = limits_from_keystore(KeyStore.open(settings))
    return RateLimiter(
        build_bucket_store(settings), default_limits(settings), metrics=metrics, policies=lookup
    )


def build_meter(settings: GatewaySettings, metrics: GatewayMetrics = DEFAULT_METRICS) -> UsageMeter:
    log = None
    if settings.invocation_log is not None:
        log = InvocationLog(
            settings.invocation_log,
            account_id=settings.account_id,
            region=settings.region,
            include_bodies=settings.invocation_log_bodies,
        )
    return UsageMeter(UsageStore(settings.state_dir() / DB_FILE_NAME), metrics, log)
