"""Helpers for the live tenancy tests: a real gateway over a chosen strata.toml, real clients.

:func:`build` is :func:`tests.model_layer.auth.g2_harness.build_gateway` with the whole config
(model-level limits, timeouts, extra models) and injected providers, and a frozen rate-limit
clock by default, so bucket levels only change through admissions and settlements.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import openai
from botocore.config import Config
from prometheus_client import CollectorRegistry

from model_layer.app import assemble, create_app
from model_layer.auth import Authenticator, Credentials
from model_layer.config import parse_config
from model_layer.providers.registry import ModelRouter
from model_layer.settings import GatewaySettings
from model_layer.state import UsageRecord
from model_layer.tenancy.buckets import InProcessBuckets
from model_layer.tenancy.metrics import GatewayMetrics
from tests.model_layer.auth.g2_harness import CHAT_MODEL, PRICED_MODEL, G2Gateway, fake_config

EMBED_MODEL = "amazon.fake-embed-v1:0"

__all__ = ["CHAT_MODEL", "EMBED_MODEL", "PRICED_MODEL", "Clock", "build", "config", "wait_for"]


class Clock:
    """A rate-limit clock that moves only when a test moves it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def config(*, models: dict[str, dict[str, Any]] | None = None, **provider: Any) -> dict[str, Any]:
    """g2's fake config plus an embedding model; ``models`` adds keys to models by id."""
    doc = fake_config(embedding_dimensions=8, **provider)
    doc["models"].append(
        {"id": EMBED_MODEL, "provider": "fake", "kind": "embedding", "native_format": "titan-embed"}
    )
    for model in doc["models"]:
        model.update((models or {}).get(model["id"], {}))
    return doc


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def write_toml(doc: dict[str, Any], path: Path) -> Path:
    """strata.toml for ``doc`` (arrays of tables and tables of plain values: what config() makes)."""
    lines: list[str] = []
    for name, value in doc.items():
        tables = value if isinstance(value, list) else [value]
        for table in tables:
            lines.append(f"[[{name}]]" if isinstance(value, list) else f"[{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
            lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def build(
    home: Path,
    *,
    doc: dict[str, Any] | None = None,
    providers: dict[str, Any] | None = None,
    clock: Callable[[], float] | None = None,
    buckets: Any = None,
    **settings: Any,
) -> G2Gateway:
    """A gateway with production auth, limits and metering over ``doc`` (default :func:`config`).

    ``doc`` is written to the home's strata.toml too: the limiter reads model-level limits from
    the configuration file, as ``strata serve`` does, not from the injected router.
    """
    doc = doc or config()
    home.mkdir(parents=True, exist_ok=True)
    write_toml(doc, home / "strata.toml")
    settings_obj = GatewaySettings(home=home, **settings)
    metrics = GatewayMetrics(CollectorRegistry())
    router = ModelRouter(parse_config(doc), providers=providers)
    buckets = buckets or InProcessBuckets(clock or Clock())
    gateway = assemble(settings_obj, router=router, buckets=buckets, metrics=metrics)
    gateway.authenticator = Authenticator(
        Credentials(gateway.keystore, gateway.watcher),
        max_clock_skew_s=settings_obj.max_clock_skew_s,
        on_failure=metrics.auth_failure,
    )
    app = create_app(settings_obj, gateway=gateway)
    app.state.metrics_registry = metrics.registry
    return G2Gateway(
        app,
        settings_obj,
        gateway.keystore,
        metrics,
        gateway.keystore.state.usage,
        gateway.service.limiter,
        gateway,
    )


def runtime(url: str, keys: Any, service: str = "bedrock-runtime", **config: Any):
    """A boto3 client for the gateway that does not retry (each call is one request)."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, **config),
    )


def openai_client(url: str, api_key: str, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=api_key, max_retries=0, **kwargs)


def wait_for(predicate: Callable[[], Any], *, timeout_s: float = 10.0, what: str = "the condition") -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def usage_rows(gateway: G2Gateway, tenant_id: str, n: int = 1, timeout_s: float = 10.0) -> list[UsageRecord]:
    """Wait until ``tenant_id`` has at least ``n`` usage records; the oldest first."""
    rows = wait_for(
        lambda: (r := gateway.usage.records(tenant_id=tenant_id)) and len(r) >= n and r,
        timeout_s=timeout_s,
        what=f"{n} usage record(s) of {tenant_id}",
    )
    return list(reversed(rows))


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]
