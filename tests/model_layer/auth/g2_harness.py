"""A gateway for auth/tenancy tests: production auth, limits and metering over the fake provider.

Everything is the real code (``create_app``, ``ModelRouter``, ``Authenticator``, ``RateLimiter``,
``UsageMeter``); the model is G3's deterministic fake provider, metrics go to a fresh registry
(so counts start at zero), and the rate-limit and signature clocks can be injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from model_layer.app import Gateway, assemble, create_app
from model_layer.auth import Authenticator, Credentials
from model_layer.auth.keystore import IssuedKeys, KeyStore
from model_layer.config import parse_config
from model_layer.providers.registry import ModelRouter
from model_layer.settings import GatewaySettings
from model_layer.state import UsageStore
from model_layer.tenancy.buckets import BucketStore, InProcessBuckets
from model_layer.tenancy.limiter import RateLimiter
from model_layer.tenancy.metrics import GatewayMetrics
from tests.model_layer.gateway_harness import committed_usage

CHAT_MODEL = "fake.echo-v1:0"
PRICED_MODEL = "fake.priced-v1:0"  # $3 / $15 per 1M tokens, like a mid-size hosted model


def fake_config(**provider: Any) -> dict[str, Any]:
    """strata.toml for the fake provider; ``provider`` adds e.g. ``fail_times``/``fail_with``."""
    return {
        "providers": [{"name": "fake", "type": "fake", **provider}],
        "models": [
            {"id": CHAT_MODEL, "provider": "fake"},
            {
                "id": PRICED_MODEL,
                "provider": "fake",
                "input_price_per_1k": 0.003,
                "output_price_per_1k": 0.015,
            },
        ],
        "retry": {"max_attempts": 1},
    }


@dataclass
class G2Gateway:
    app: Any
    settings: GatewaySettings
    keystore: KeyStore
    metrics: GatewayMetrics
    usage_store: UsageStore
    limiter: RateLimiter
    gateway: Gateway

    @property
    def usage(self) -> UsageStore:
        """The usage store, once every call metered so far is committed (with the usage journal,
        the commit follows the response)."""
        committed_usage(self.gateway)
        return self.usage_store

    def issue(self, tenant_id: str, **limits: Any) -> IssuedKeys:
        return self.keystore.create_keys(tenant_id, **limits)

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def build_gateway(
    home: Path,
    *,
    signature_clock: Callable[[], float] = time.time,
    buckets: BucketStore | None = None,
    invocation_log: Path | None = None,
    provider: dict[str, Any] | None = None,
    **settings: Any,
) -> G2Gateway:
    settings_obj = GatewaySettings(home=home, invocation_log=invocation_log, **settings)
    metrics = GatewayMetrics(CollectorRegistry())
    router = ModelRouter(parse_config(fake_config(**(provider or {}))))
    gateway = assemble(settings_obj, router=router, buckets=buckets or InProcessBuckets(), metrics=metrics)
    gateway.authenticator = Authenticator(
        Credentials(gateway.keystore, gateway.watcher),
        max_clock_skew_s=settings_obj.max_clock_skew_s,
        clock=signature_clock,
        on_failure=metrics.auth_failure,
    )
    app = create_app(settings_obj, gateway=gateway)
    app.state.metrics_registry = metrics.registry
    limiter = gateway.service.limiter
    return G2Gateway(
        app, settings_obj, gateway.keystore, metrics, gateway.keystore.state.usage, limiter, gateway
    )


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]
