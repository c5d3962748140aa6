"""Metering: usage records, cost, the invocation log and metrics after real calls."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from model_layer.state import UsageRecord, UsageStore, open_database, sqlite_url
from model_layer.tenancy.metering import cost_usd
from model_layer.types import ModelInfo, Usage
from strata.cli import main
from tests.model_layer.auth.g2_harness import CHAT_MODEL, PRICED_MODEL, build_gateway, user


def client_for(url, keys):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_cost_uses_list_prices_per_1k():
    model = ModelInfo("m", "m", "p", input_price_per_1k=0.003, output_price_per_1k=0.015)
    usage = Usage(input_tokens=1000, output_tokens=2000, cache_read_input_tokens=500)
    assert cost_usd(model, usage) == pytest.approx(1.5 * 0.003 + 2 * 0.015)


def test_summaries_group_by_tenant_and_model_and_filter(tmp_path):
    db = open_database(sqlite_url(tmp_path / "strata.db"))
    store = UsageStore(db)
    now = datetime.now(UTC).timestamp()

    def record(at: float, tenant: str, model: str, tokens: tuple[int, int], latency: int) -> UsageRecord:
        return UsageRecord(at, tenant, "K", model, "Converse", *tokens, 0, 0, 0.5, latency, "complete")

    store.add(record(now - 7200, "a", "m1", (10, 1), 100))
    store.add(record(now, "a", "m1", (20, 2), 300))
    store.add(record(now, "b", "m2", (5, 5), 50))
    rows = {(r.tenant_id, r.model_id): r for r in store.summarize()}
    assert (rows["a", "m1"].requests, rows["a", "m1"].input_tokens, rows["a", "m1"].output_tokens) == (
        2,
        30,
        3,
    )
    assert rows["a", "m1"].cost_usd == pytest.approx(1.0) and rows["a", "m1"].avg_latency_ms == 200
    recent = store.summarize(tenant_id="a", since=datetime.now(UTC) - timedelta(hours=1))
    assert [(r.requests, r.input_tokens) for r in recent] == [(1, 20)]
    db.dispose()


def test_real_calls_are_metered_logged_and_counted(tmp_path, live_server):
    log_path = tmp_path / "invocations.jsonl"
    gateway = build_gateway(tmp_path / "gw", invocation_log=log_path)
    keys = gateway.issue("acme")
    with live_server(gateway.app) as url:
        client = client_for(url, keys)
        usages = [
            client.converse(modelId=PRICED_MODEL, messages=user(text))["usage"]
            for text in ("one two three", "four five")
        ]
        client.converse(modelId=CHAT_MODEL, messages=user("free"))
    since = datetime.now(UTC) - timedelta(minutes=1)
    rows = {r.model_id: r for r in gateway.usage.summarize(tenant_id="acme", since=since)}
    assert rows[CHAT_MODEL].requests == 1 and rows[CHAT_MODEL].cost_usd == 0  # local models are free
    row = rows[PRICED_MODEL]
    assert (row.model_id, row.requests, row.errors) == (PRICED_MODEL, 2, 0)
    assert row.input_tokens == sum(u["inputTokens"] for u in usages)
    assert row.output_tokens == sum(u["outputTokens"] for u in usages)
    assert row.cost_usd == pytest.approx((row.input_tokens * 0.003 + row.output_tokens * 0.015) / 1000)

    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [e["modelId"] for e in lines] == [PRICED_MODEL, PRICED_MODEL, CHAT_MODEL]
    first = lines[0]
    assert first["schemaType"] == "ModelInvocationLog" and first["operation"] == "Converse"
    assert first["tenantId"] == "acme" and first["accessKeyId"] == keys.access_key_id
    assert first["input"]["inputTokenCount"] == usages[0]["inputTokens"] and first["requestId"]
    assert keys.secret_access_key not in log_path.read_text()
    assert oct(log_path.stat().st_mode & 0o777) == "0o600"
    assert "inputBodyJson" not in first["input"] and "outputBodyJson" not in first["output"]  # opt-in

    labels = {"tenant": "acme", "model": PRICED_MODEL, "operation": "Converse"}
    assert gateway.sample("strata_model_requests_total", **labels) == 2
    assert gateway.sample("strata_model_tokens_total", **labels, type="output") == row.output_tokens
    assert gateway.sample("strata_model_latency_seconds_count", **labels) == 2
    assert gateway.sample("strata_model_cost_usd_total", **labels) == pytest.approx(row.cost_usd)
    gateway.keystore.close()


def test_provider_errors_are_metered_with_their_code(tmp_path, live_server):
    gateway = build_gateway(tmp_path / "gw", provider={"fail_times": 1, "fail_with": "ModelErrorException"})
    keys = gateway.issue("acme")
    with live_server(gateway.app) as url:
        client = client_for(url, keys)
        with pytest.raises(ClientError, match="ModelErrorException"):
            client.converse(modelId=CHAT_MODEL, messages=user("boom"))
        client.converse(modelId=CHAT_MODEL, messages=user("fine"))
    (row,) = gateway.usage.summarize()
    assert (row.requests, row.errors) == (2, 1)
    labels = {"tenant": "acme", "model": CHAT_MODEL, "operation": "Converse"}
    assert gateway.sample("strata_model_errors_total", **labels, code="ModelErrorException") == 1
    gateway.keystore.close()


def test_usage_cli_aggregates_per_tenant_and_model(live_server, capsys):
    home = Path(os.environ["STRATA_HOME"])  # what the CLI reads
    gateway = build_gateway(home)
    acme, beta = gateway.issue("acme"), gateway.issue("beta")
    with live_server(gateway.app) as url:
        for keys, n in ((acme, 2), (beta, 1)):
            for _ in range(n):
                client_for(url, keys).converse(modelId=CHAT_MODEL, messages=user("count me"))
    gateway.keystore.close()
    capsys.readouterr()
    assert main(["usage", "--json", "--since", "1h"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["tenant_id"], r["model_id"], r["requests"]) for r in rows] == [
        ("acme", CHAT_MODEL, 2),
        ("beta", CHAT_MODEL, 1),
    ]
    assert main(["usage", "--tenant", "beta", "--json"]) == 0
    assert [r["tenant_id"] for r in json.loads(capsys.readouterr().out)] == ["beta"]
    assert main(["usage"]) == 0
    table = capsys.readouterr().out
    assert "acme" in table and CHAT_MODEL in table
    assert main(["usage", "--since", "yesterday-ish"]) == 1
    assert "error: invalid --since 'yesterday-ish'" in capsys.readouterr().err


def test_invocation_log_records_bodies_when_enabled(tmp_path, live_server):
    log_path = tmp_path / "invocations.jsonl"
    gateway = build_gateway(tmp_path / "gw", invocation_log=log_path, invocation_log_bodies=True)
    keys = gateway.issue("acme")
    with live_server(gateway.app) as url:
        answer = client_for(url, keys).converse(
            modelId=CHAT_MODEL,
            messages=user("where is my order"),
            system=[{"text": "be brief"}],
            inferenceConfig={"maxTokens": 50},
        )
    (entry,) = [json.loads(line) for line in log_path.read_text().splitlines()]
    body = entry["input"]["inputBodyJson"]
    assert body["messages"] == user("where is my order")
    assert body["system"] == [{"text": "be brief"}] and body["inferenceConfig"] == {"maxTokens": 50}
    assert entry["output"]["outputBodyJson"] == {
        "content": answer["output"]["message"]["content"],
        "stopReason": answer["stopReason"],
    }
    gateway.keystore.close()
