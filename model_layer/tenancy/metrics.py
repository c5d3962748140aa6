"""The gateway's Prometheus metrics (served by ``GET /metrics`` in :mod:`model_layer.api.ops`).

One :class:`GatewayMetrics` per registry. The gateway uses :data:`DEFAULT_METRICS` on
prometheus-client's global registry (which also carries the process and GC collectors); tests may
build their own on a fresh ``CollectorRegistry``. Label values are tenant ids and gateway model
ids, both bounded sets chosen by the operator, so the series count stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from model_layer.types import Usage

# Model calls run from milliseconds (cached, fake) to minutes (long generations on CPU).
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


_TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")


@dataclass(frozen=True)
class _Series:
    requests: Any
    latency: Any
    tokens: tuple[Any, ...]  # in _TOKEN_KINDS order
    engine_cached: Any
    cost: Any


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.registry = registry
        self._cache: dict[tuple[str, str, str], _Series] = {}
        labels = ("tenant", "model", "operation")
        self.requests = Counter("strata_model_requests", "Model invocations.", labels, registry=registry)
        self.errors = Counter(
            "strata_model_errors",
            "Model invocations that failed, by error code.",
            (*labels, "code"),
            registry=registry,
        )
        self.latency = Histogram(
            "strata_model_latency_seconds",
            "Model invocation latency, first byte to last.",
            labels,
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.tokens = Counter(
            "strata_model_tokens",
            "Tokens processed, by type (input, output, cache_read, cache_write).",
            (*labels, "type"),
            registry=registry,
        )
        self.engine_cached = Counter(
            "strata_engine_prefix_cache_tokens",
            "Prompt tokens a model engine reused from its own prefix cache, asked for or not "
            "(responses report cache reads only for requests with a cachePoint).",
            labels,
            registry=registry,
        )
        self.cost = Counter(
            "strata_model_cost_usd", "Cost at the model's list prices, in USD.", labels, registry=registry
        )
        self.throttled = Counter(
            "strata_throttled_requests",
            "Requests rejected by a rate limit (requests or tokens per minute).",
            ("tenant", "limit"),
            registry=registry,
        )
        self.auth_failures = Counter(
            "strata_auth_failures",
            "Requests rejected by authentication, by error code.",
            ("code",),
            registry=registry,
        )

    def observe_call(
        self,
        *,
        tenant: str,
        model: str,
        operation: str,
        usage: Usage,
        latency_s: float,
        cost_usd: float,
        error_code: str | None,
    ) -> None:
        series = self._series(tenant, model, operation)
        series.requests.inc()
        series.latency.observe(latency_s)
        if error_code:
            self.errors.labels(tenant, model, operation, error_code).inc()
        for child, count in zip(
            series.tokens,
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_input_tokens,
                usage.cache_write_input_tokens,
            ),
            strict=True,
        ):
            if count:
                child.inc(count)
        if usage.engine_cached_tokens:
            series.engine_cached.inc(usage.engine_cached_tokens)
        if cost_usd:
            series.cost.inc(cost_usd)

    def _series(self, tenant: str, model: str, operation: str) -> _Series:
        """The label children of one (tenant, model, operation), looked up once (``labels()`` is slow)."""
        key = (tenant, model, operation)
        series = self._cache.get(key)
        if series is None:
            series = _Series(
                self.requests.labels(*key),
                self.latency.labels(*key),
                tuple(self.tokens.labels(*key, kind) for kind in _TOKEN_KINDS),
                self.engine_cached.labels(*key),
                self.cost.labels(*key),
            )
            self._cache[key] = series
        return series

    def throttle(self, tenant: str, limit: str) -> None:
        self.throttled.labels(tenant=tenant, limit=limit).inc()

    def auth_failure(self, code: str) -> None:
        self.auth_failures.labels(code=code).inc()


DEFAULT_METRICS = GatewayMetrics()
