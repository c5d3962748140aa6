"""Metering: one usage record per model call, durable before the call's response completes.

:class:`UsageMeter` implements the service's ``Meter``: it turns a finished call (however it
ended: ``complete``, ``error`` or ``client_disconnected``, with the tokens used so far) into a
:class:`~model_layer.state.UsageRecord`, hands it to the state store's group-commit writer and
awaits its commit or its journal append (so ``kill -9`` loses no acknowledged usage), feeds
budgets and Prometheus, and appends to the optional JSONL invocation log. Cost uses the model's list prices
(``ModelInfo.input_price_per_1k`` / ``output_price_per_1k``); prompt-cache reads and writes are
charged at the input price because ``ModelInfo`` carries no separate cache prices. Metering never
fails a call: it runs when the call ends, where an exception would replace the caller's answer
or error, so its own failures are logged instead (the writer's spool file keeps records through
a database outage).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model_layer.state import UsageRecord
from model_layer.state.writer import UsageWriter
from model_layer.tenancy.budgets import BudgetGuard
from model_layer.tenancy.metrics import GatewayMetrics
from model_layer.types import InvocationBodies, ModelInfo, Tenant, Usage

log = logging.getLogger("strata.gateway.metering")


def cost_usd(model: ModelInfo, usage: Usage) -> float:
    billed_input = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_write_input_tokens
    return (billed_input * model.input_price_per_1k + usage.output_tokens * model.output_price_per_1k) / 1000


class InvocationLog:
    """Bedrock-style model-invocation log: one JSON object per line.

    Metadata always (with the call's ``outcome``); with ``include_bodies`` also
    ``input.inputBodyJson`` (messages, system, inference settings) and ``output.outputBodyJson``
    (the answer's content blocks and stop reason), as Bedrock's text-data delivery does. Bodies
    can hold personal data: opt-in.
    """

    def __init__(self, path: Path, *, account_id: str, region: str, include_bodies: bool = False):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.account_id, self.region = path, account_id, region
        self.include_bodies = include_bodies
        self._lock = threading.Lock()

    def write(self, record: UsageRecord, bodies: InvocationBodies | None = None) -> None:
        entry: dict[str, Any] = {
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": datetime.fromtimestamp(record.at, UTC).isoformat(timespec="milliseconds"),
            "accountId": self.account_id,
            "region": self.region,
            "identity": {"arn": f"arn:aws:iam::{self.account_id}:user/{record.tenant_id}"},
            "tenantId": record.tenant_id,
            "accessKeyId": record.key_id,
            "requestId": record.request_id,
            "operation": record.operation,
            "modelId": record.model_id,
            "input": {
                "inputTokenCount": record.input_tokens,
                "cacheReadInputTokenCount": record.cache_read_input_tokens,
                "cacheWriteInputTokenCount": record.cache_write_input_tokens,
            },
            "output": {"outputTokenCount": record.output_tokens},
            "latencyMs": record.latency_ms,
            "outcome": record.outcome,
            "errorCode": record.error_code,
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
    """Implements ``model_layer.service.Meter``: usage record + budgets + metrics + invocation log."""

    def __init__(
        self,
        writer: UsageWriter,
        metrics: GatewayMetrics | None = None,
        invocation_log: InvocationLog | None = None,
        budgets: BudgetGuard | None = None,
    ):
        self.writer = writer
        self.metrics = metrics
        self.invocation_log = invocation_log
        self.budgets = budgets
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
        record = UsageRecord(
            at=at,
            tenant_id=tenant.tenant_id,
            key_id=tenant.key_id,
            model_id=model.model_id,
            operation=operation,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens,
            cache_write_input_tokens=usage.cache_write_input_tokens,
            cost_usd=cost,
            latency_ms=latency_ms,
            outcome=outcome,
            error_code=error_code,
            request_id=request_id,
        )
        try:
            await self.writer.write(record)
        except Exception:
            log.exception("could not record usage for request %s", request_id)
        if self.budgets is not None and cost:
            self.budgets.add(tenant.tenant_id, cost, at)
        if self.invocation_log is not None:
            try:
                await asyncio.to_thread(self.invocation_log.write, record, bodies)
            except OSError:
                log.exception("could not write the invocation log for request %s", request_id)
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

    async def flushed(self) -> None:
        """Every call metered so far is committed (read-your-writes for the usage API)."""
        await self.writer.flushed()

    async def aclose(self) -> None:
        await self.writer.aclose()
