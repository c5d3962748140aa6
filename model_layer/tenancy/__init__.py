"""Tenancy: admission (rate limits, per-model limits, budgets), usage metering, metrics, the invocation log.

``build_limiter`` and ``build_meter`` give the service its ``Limiter`` and ``Meter``
(:mod:`model_layer.service`) from settings and the shared state: in-process buckets, or Redis
when ``STRATA_REDIS_URL`` is set so several replicas share limits; usage written to the state
store (SQLite or PostgreSQL) by its group-commit writer; the JSONL invocation log when
``STRATA_INVOCATION_LOG`` is set. Tenants' own limits arrive with their credentials
(``Tenant.policy``); the defaults here apply where a tenant has none.
"""

from __future__ import annotations

from model_layer.config import StrataConfig, load_config
from model_layer.settings import GatewaySettings
from model_layer.state import State
from model_layer.state.journal import UsageJournal
from model_layer.state.writer import UsageWriter
from model_layer.tenancy.buckets import BucketStore, InProcessBuckets, Limits
from model_layer.tenancy.budgets import BudgetGuard
from model_layer.tenancy.limiter import RateLimiter
from model_layer.tenancy.metering import InvocationLog, UsageMeter, cost_usd
from model_layer.tenancy.metrics import DEFAULT_METRICS, GatewayMetrics

__all__ = [
    "BudgetGuard",
    "GatewayMetrics",
    "Limits",
    "RateLimiter",
    "UsageMeter",
    "build_budgets",
    "build_limiter",
    "build_meter",
    "cost_usd",
    "default_limits",
    "model_limits",
]


def _config(settings: GatewaySettings) -> StrataConfig:
    return load_config(settings.config_file, home=settings.state_dir())


def default_limits(settings: GatewaySettings, config: StrataConfig | None = None) -> Limits:
    """``STRATA_DEFAULT_*_PER_MINUTE`` where set, else ``[quotas]`` in strata.toml."""
    quotas = (config or _config(settings)).quotas
    return Limits(
        requests_per_minute=settings.default_requests_per_minute or quotas.requests_per_minute,
        tokens_per_minute=settings.default_tokens_per_minute or quotas.tokens_per_minute,
    )


def model_limits(config: StrataConfig) -> dict[str, Limits]:
    """Per-tenant limits on each model that sets them in strata.toml."""
    return {
        m.id: Limits(m.requests_per_minute, m.tokens_per_minute)
        for m in config.models
        if m.requests_per_minute or m.tokens_per_minute
    }


def build_bucket_store(settings: GatewaySettings) -> BucketStore:
    if settings.redis_url:
        from model_layer.tenancy.redis_buckets import RedisBuckets

        return RedisBuckets(settings.redis_url)
    return InProcessBuckets()


def build_budgets(state: State) -> BudgetGuard:
    return BudgetGuard(state.usage.spend)


def build_limiter(
    settings: GatewaySettings,
    *,
    budgets: BudgetGuard | None = None,
    buckets: BucketStore | None = None,
    metrics: GatewayMetrics = DEFAULT_METRICS,
    config: StrataConfig | None = None,
) -> RateLimiter:
    """Limits from ``config`` (the router's strata.toml; default: the one ``settings`` name)."""
    config = config or _config(settings)
    return RateLimiter(
        buckets or build_bucket_store(settings),
        default_limits(settings, config),
        model_limits(config),
        metrics=metrics,
        budgets=budgets,
    )


def build_meter(
    settings: GatewaySettings,
    state: State,
    *,
    budgets: BudgetGuard | None = None,
    metrics: GatewayMetrics = DEFAULT_METRICS,
) -> UsageMeter:
    log = None
    if settings.invocation_log is not None:
        log = InvocationLog(
            settings.invocation_log,
            account_id=settings.account_id,
            region=settings.region,
            include_bodies=settings.invocation_log_bodies,
        )
    journal = UsageJournal(state.journal_dir) if state.journal_dir is not None else None
    writer = UsageWriter(
        state.usage.add_many, state.spool, journal=journal, forget=state.usage.forget_journals
    )
    return UsageMeter(writer, metrics, log, budgets)
