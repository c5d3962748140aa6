"""Metering: one usage record per model call (SQLite), metrics, and the invocation log.

:class:`UsageMeter` implements the service's ``Meter``. Cost uses the model's list prices
(``ModelInfo.input_price_per_1k`` / ``output_price_per_1k``); prompt-cache reads and writes are
charged at the input price because ``ModelInfo`` carries no separate cache prices. Metering never
fails a call: it runs in the service's ``finally``, where an exception would replace the caller's
answer or error, so its own failures are logged instead.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model_layer.tenancy.metrics import GatewayMetrics
from model_layer.types import InvocationBodies, ModelInfo, Tenant, Usage
from strata.home import connect_state_db

log = logging.getLogger("strata.gateway.metering")

DB_FILE_NAME = "usage.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    tenant_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_input_tokens INTEGER NOT NULL,
    cache_write_input_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    latency_ms INTEGER NOT NULL,
    error_code TEXT,
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS usage_by_tenant_time ON usage (tenant_id, at);
CREATE INDEX IF NOT EXISTS usage_by_time ON usage (at);
"""


def cost_usd(model: ModelInfo, usage: Usage) -> float:
    billed_input = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_write_input_tokens
    return (billed_input * model.input_price_per_1k + usage.output_tokens * model.output_price_per_1k) / 1000


@dataclass(frozen=True)
class UsageSummary:
    """Totals for one tenant and model, as ``strata usage`` prints them."""

    tenant_id: str
    model_id: str
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_write_input_tokens: int
    cost_usd: float
    avg_latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class UsageStore:
    """Usage records in SQLite (``usage.db`` in the state directory)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        # Created 0600 (its -wal/-shm follow); read-only, changing nothing, on a read-only home.
        self._conn = connect_state_db(path)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # a lost last record on power loss is fine
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(_SCHEMA)

    def add(
        self,
        *,
        at: float,
        tenant: Tenant,
        model_id: str,
        operation: str,
        usage: Usage,
        cost: float,
        latency_ms: int,
        error_code: str | None,
        request_id: str | None,
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO usage(at, tenant_id, key_id, model_id, operation, input_tokens,"
                " output_tokens, cache_read_input_tokens, cache_write_input_tokens, cost_usd,"
                " latency_ms, error_code, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    at,
                    tenant.tenant_id,
                    tenant.key_id,
                    model_id,
                    operation,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cache_read_input_tokens,
                    usage.cache_write_input_tokens,
                    cost,
                    latency_ms,
                    error_code,
                    request_id,
                ),
            )

    def summarize(self, *, tenant_id: str | None = None, since: datetime | None = None) -> list[UsageSummary]:
        sql = (
            "SELECT tenant_id, model_id, COUNT(*), SUM(error_code IS NOT NULL), SUM(input_tokens),"
            " SUM(output_tokens), SUM(cache_read_input_tokens), SUM(cache_write_input_tokens),"
            " SUM(cost_usd), AVG(latency_ms) FROM usage WHERE 1 = 1"
        )
        args: list[Any] = []
        if tenant_id is not None:
            sql += " AND tenant_id = ?"
            args.append(tenant_id)
        if since is not None:
            sql += " AND at >= ?"
            args.append(since.timestamp())
        sql += " GROUP BY tenant_id, model_id ORDER BY tenant_id, model_id"
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [
            UsageSummary(t, m, n, e, i, o, cr, cw, round(c, 8), round(lat, 1))
            for t, m, n, e, i, o, cr, cw, c, lat in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class InvocationLog:
    """Bedrock-style model-invocation log: one JSON object per line.

    Metadata always; with ``include_bodies`` also ``input.inputBodyJson`` (messages, system,
    inference settings) and ``output.outputBodyJson`` (the answer's content blocks and stop
    reason), as Bedrock's text-data delivery does. Bodies can hold personal data: opt-in.
    """

    def __init__(self, path: Path, *, account_id: str, region: str, include_bodies: bool = False):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.account_id, self.region = path, account_id, region
        self.include_bodies = include_bodies
        self._lock = threading.Lock()

    def write(
        self,
        *,
        at: float,
        tenant: Tenant,
        model_id: str,
        operation: str,
        usage: Usage,
        latency_ms: int,
        error_code: str | None,
        request_id: str | None,
        bodies: InvocationBodies | None = None,
    ) -> None:
        entry = {
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds"),
            "accountId": self.account_id,
            "region": self.region,
            "identity": {"arn": f"arn:aws:iam::{self.account_id}:user/{tenant.tenant_id}"},
            "tenantId": tenant.tenant_id,
            "accessKeyId": tenant.key_id,
            "requestId": request_id,
            "operation": operation,
            "modelId": model_id,
            "input": {
                "inputTokenCount": usage.input_tokens,
                "cacheReadInputTokenCount": usage.cache_read_input_tokens,
                "cacheWriteInputTokenCount": usage.cache_write_input_tokens,
            },
            "output": {"outputTokenCount": usage.output_tokens},
            "latencyMs": latency_ms,
            "errorCode": error_code,
        }
        if self.include_bodies and bodies is not None:
            entry["input"]["inputBodyJson"] = _input_body(bodies)
            if bodies.response is not None:
                entry["output"]["outputBodyJson"] = {
                    "content": bodies.response.content,
                    "stopReason": bodies.response.stop_reason,
                }
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line)


def _input_body(bodies: InvocationBodies) -> dict[str, Any]:
    request = bodies.request
    body: dict[str, Any] = {"messages": request.messages, "system": request.system}
    config = {"maxTokens": request.max_tokens, "temperature": request.temperature, "topP": request.top_p}
    body["inferenceConfig"] = {k: v for k, v in config.items() if v is not None}
    if request.tools:
        body["tools"] = [t.name for t in request.tools]
    return body


class UsageMeter:
    """Implements ``model_layer.service.Meter``: usage record + metrics + invocation log."""

    def __init__(
        self,
        store: UsageStore,
        metrics: GatewayMetrics | None = None,
        invocation_log: InvocationLog | None = None,
    ):
        self.store = store
        self.metrics = metrics
        self.invocation_log = invocation_log
        # Tells ModelService to keep a call's events for the log (only when bodies are logged).
        self.wants_bodies = bool(invocation_log and invocation_log.include_bodies)

    async def record(
        self,
        *,
        tenant: Tenant,
        model: ModelInfo,
        operation: str,
        usage: Usage,
        latency_ms: int,
        request_id: str | None,
        error_code: str | None,
        outcome: str = "complete",
        bodies: InvocationBodies | None = None,
    ) -> None:
        at, cost = time.time(), cost_usd(model, usage)
        common = {"tenant": tenant, "model_id": model.model_id, "operation": operation, "usage": usage}
        try:
            self.store.add(
                at=at,
                cost=cost,
                latency_ms=latency_ms,
                error_code=error_code,
                request_id=request_id,
                **common,
            )
            if self.invocation_log is not None:
                self.invocation_log.write(
                    at=at,
                    latency_ms=latency_ms,
                    error_code=error_code,
                    request_id=request_id,
                    bodies=bodies,
                    **common,
                )
        except (OSError, sqlite3.Error):
            log.exception("could not record usage for request %s", request_id)
        if self.metrics is not None:
            self.metrics.observe_call(
                tenant=tenant.tenant_id,
                model=model.model_id,
                operation=operation,
                usage=usage,
                latency_s=latency_ms / 1000,
                cost_usd=cost,
                error_code=error_code,
            )
