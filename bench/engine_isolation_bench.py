"""Benchmark: what a hostile request costs the shared local engine, and what the bounds leave of it.

    .venv/bin/python bench/engine_isolation_bench.py [--tokens 128] [--probes 5] [--skip-gateway]

1. Cost per shape (layer 1's ``ChatEngine``, the packaged SmolLM2, 2 slots, **1 thread**): each
   JSON schema below is sent as ``response_format`` and its CPU seconds and tokens are compared
   with a plain ``{"v": string}`` schema of the same ``--tokens`` in the same run. One llama.cpp
   thread, because then the process's CPU time is the engine's work, whatever else runs on the
   machine (with 2 threads, their spin-waits under contention swamp the figure). First-chunk time
   shows grammar compilation (json-schema → GBNF in the calling thread, GBNF parsing in the loop
   thread every slot shares). Shapes at the default bounds (``model_layer.wire.bounds``) and over
   them (what the bounds now refuse).
2. Isolation at the gateway (``build_gateway`` + uvicorn on loopback, the real local model with
   one thread, boto3): tenant B's small Converse (maxTokens 8, greedy) alone (baseline), while
   tenant A sends plain requests (control) or a hostile one back to back, and the time A waits for
   its 400 when over a bound. Then the issue's scenario on a gateway whose bounds are lifted: an
   enum of 20,000 values whose client gives up after 10 s, and how long B is held after that.

Figures are medians of ``--probes`` B requests. The machine is shared: read ratios, not absolutes.
Results: ``bench/results/engine_isolation.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infrastructure.runtime.engine import ChatEngine, EngineConfig  # noqa: E402
from model_layer.providers.tool_calling import call_schema  # noqa: E402
from model_layer.types import ToolSpec  # noqa: E402
from model_layer.wire.bounds import RequestBounds, measure_schema  # noqa: E402

RESULTS = ROOT / "bench" / "results"
ODD = "Q#z~|^@%`]"  # a prefix the model never predicts: every token needs the grammar's full check
PLAIN = {"type": "object", "properties": {"v": {"type": "string"}}, "required": ["v"]}
BOUNDS = RequestBounds.model_construct()


def one(value: dict) -> dict:
    return {"type": "object", "properties": {"v": value}, "required": ["v"]}


def enum(n: int, prefix: str = ODD) -> dict:
    return one({"type": "string", "enum": [f"{prefix}{i}" for i in range(n)]})


def optional_properties(n: int) -> dict:
    return {"type": "object", "properties": {f"field_{i}": {"type": "string"} for i in range(n)}}


def tools_schema(n: int) -> dict:
    """What the local provider compiles for ``n`` tools (each with a 2-value enum)."""
    unit = {"type": "string", "enum": ["celsius", "fahrenheit"]}
    tools = [
        ToolSpec(f"tool_{i}", "", {"type": "object", "properties": {"unit": unit}, "required": ["unit"]})
        for i in range(n)
    ]
    return call_schema(tools, may_answer=True)


def any_of(n: int) -> dict:
    branch = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    return {"anyOf": [{**branch, "properties": {f"k{i}": {"type": "integer"}}} for i in range(n)]}


def nested_objects(depth: int) -> dict:
    schema: dict = {"type": "string"}
    while measure_schema(schema).depth + 2 <= depth:  # each object level adds 2 JSON levels
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    return schema


def long_descriptions(chars: int) -> dict:
    schema = optional_properties(32)
    for prop in schema["properties"].values():
        prop["description"] = "d" * (chars // 32 - 60)
    return schema


def nested_pattern(outer: int, inner: int) -> dict:
    return one({"type": "string", "pattern": f"^((ab|a){{1,{inner}}}){{1,{outer}}}$"})


def shapes() -> list[tuple[str, str, dict]]:
    b = BOUNDS
    return [
        ("at", f"enum of {b.max_schema_enum_values}, odd shared prefix", enum(b.max_schema_enum_values)),
        (
            "at",
            f"{b.max_schema_properties} optional properties",
            optional_properties(b.max_schema_properties),
        ),
        ("at", f"{b.max_tools} tools (grammar over all), 2-value enum each", tools_schema(b.max_tools)),
        ("at", "nested pattern counts 10 x 100", nested_pattern(100, 10)),
        ("at", f"anyOf of {b.max_schema_branches} objects", any_of(b.max_schema_branches)),
        ("at", f"nesting depth {b.max_schema_depth}", nested_objects(b.max_schema_depth)),
        (
            "at",
            f"{b.max_schema_chars:,} characters (long descriptions)",
            long_descriptions(b.max_schema_chars),
        ),
        ("over", "enum of 2,000 (issue: ~20 s)", enum(2000, "value-")),
        ("over", "1,000 optional properties", optional_properties(1000)),
        ("over", "nested pattern counts 100 x 100", nested_pattern(100, 100)),
    ]


# --- 1. cost per shape, engine level ----------------------------------------------------------


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def constrained(engine: ChatEngine, schema: dict | None, tokens: int) -> dict:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": "Answer in JSON."}],
        "max_tokens": tokens,
        "temperature": 0,
    }
    if schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    started, cpu0, first, chunks = time.perf_counter(), cpu_s(), None, 0
    for _ in engine.stream_chat(body):
        chunks += 1
        first = first if first is not None else time.perf_counter() - started
    cpu = cpu_s() - cpu0
    return {"cpu_s": cpu, "chunks": chunks, "cpu_ms_per_chunk": 1000 * cpu / max(chunks, 1), "first_s": first}


def cost_per_shape(tokens: int) -> list[dict]:
    rows = []
    with ChatEngine(EngineConfig(n_ctx=4096, n_parallel=2, n_threads=1)) as engine:
        constrained(engine, None, 8)  # warm up
        for kind, name, schema in shapes():
            plain = constrained(engine, PLAIN, tokens)
            hostile = constrained(engine, schema, tokens)
            extra = hostile["cpu_s"] - plain["cpu_ms_per_chunk"] * hostile["chunks"] / 1000
            rows.append(
                {
                    "bound": kind,
                    "shape": name,
                    "schema_chars": len(json.dumps(schema, separators=(",", ":"))),
                    "hostile": hostile,
                    "plain": plain,
                    "extra_cpu_s": round(extra, 3),
                    "per_chunk_ratio": round(hostile["cpu_ms_per_chunk"] / plain["cpu_ms_per_chunk"], 2),
                }
            )
            print(f"  {kind:4s} {name:50s} extra {extra:6.2f} s, x{rows[-1]['per_chunk_ratio']}", flush=True)
    return rows


# --- 2. isolation at the gateway ----------------------------------------------------------------

CHAT = "local.smollm2-135m-instruct-v1:0"
CONFIG = {
    # One llama.cpp thread, as in part 1: with two on a shared 2-core machine, their spin-waits
    # under contention make B's latency noise.
    "providers": [{"name": "local", "type": "local", "n_ctx": 4096, "n_parallel": 2, "threads": 1}],
    "models": [
        {"id": CHAT, "provider": "local", "upstream": "smollm2-135m-instruct", "context_window": 2048}
    ],
}


def client(base_url: str, keys: Any, read_timeout: float = 300):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout),
    )


def hostile_call(schema: dict | None = None, messages: int = 1) -> dict:
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": [{"text": "hi"}]} for i in range(messages)
    ]
    call: dict[str, Any] = {
        "modelId": CHAT,
        "messages": turns,
        "inferenceConfig": {"maxTokens": 256, "temperature": 0},
    }
    if schema is not None:
        structure = {"jsonSchema": {"schema": json.dumps(schema), "name": "r"}}
        call["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": structure}}
    return call


def small_probe(tenant_b) -> float:
    started = time.perf_counter()
    tenant_b.converse(
        modelId=CHAT,
        messages=[{"role": "user", "content": [{"text": "Say hi."}]}],
        inferenceConfig={"maxTokens": 8, "temperature": 0},
    )
    return time.perf_counter() - started


def while_hostile(tenant_a, tenant_b, call: dict, probes: int) -> dict:
    """B's probes while A streams ``call`` back to back (B starts once A's first request is being
    generated). A request refused with a 400 is sent once, and B probes after it: a client
    flooding 400s would measure this process's GIL (clients and gateway share it), not the engine."""
    stop, in_flight = threading.Event(), threading.Event()
    a_times: list[float] = []
    a_errors: list[str] = []

    def tenant_a_loop() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                stream = tenant_a.converse_stream(**call)["stream"]
                in_flight.set()  # the gateway answers 200 once the engine produced a first chunk
                for _ in stream:
                    pass
            except Exception as exc:  # an over-bound request: its 400 is the point
                a_errors.append(type(exc).__name__)
                stop.set()
            finally:
                a_times.append(time.perf_counter() - started)
                in_flight.set()

    worker = threading.Thread(target=tenant_a_loop, daemon=True)
    worker.start()
    in_flight.wait(600)
    b = [small_probe(tenant_b) for _ in range(probes)]
    stop.set()
    worker.join(600)
    return {
        "b_median_s": statistics.median(b),
        "b_max_s": max(b),
        "a_requests": len(a_times),
        "a_median_s": statistics.median(a_times) if a_times else None,
        "a_errors": sorted(set(a_errors)),
    }


def after_giving_up(url: str, keys: Any, tenant_b, call: dict, give_up_s: float) -> dict:
    """The issue's scenario: A's client gives up after ``give_up_s``; how long is B held after?"""
    tenant_a = client(url, keys, read_timeout=give_up_s)
    started = time.perf_counter()
    try:
        tenant_a.converse(**call)
        outcome = "answered"
    except Exception as exc:
        outcome = type(exc).__name__
    a_s = time.perf_counter() - started
    b = [small_probe(tenant_b) for _ in range(2)]
    return {"a_s": a_s, "a_outcome": outcome, "b_first_after_s": b[0], "b_second_after_s": b[1]}


def gateway_isolation(probes: int) -> dict:
    from tests.model_layer.gateway_harness import build_gateway
    from tests.model_layer.live import serve_app

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as home:
        gw = build_gateway(Path(home) / "bounded", CONFIG)
        with serve_app(gw.app) as url:
            a, b = client(url, gw.keys), client(url, gw.issue_keys("tenant-b"))
            small_probe(b)  # loads the engine
            out["baseline"] = {"b_median_s": statistics.median(small_probe(b) for _ in range(probes))}
            rows = [
                ("control: plain text, 256 tokens", hostile_call()),
                ('control: plain {"v": string} schema', hostile_call(PLAIN)),
                *(
                    (f"{kind}: {name}", hostile_call(schema))
                    for kind, name, schema in shapes()
                    if "tools" not in name
                ),
                ("over: 10,001 messages", hostile_call(messages=10_001)),
            ]
            for name, call in rows:
                out[name] = while_hostile(a, b, call, probes)
                print(f"  {name:56s} B median {out[name]['b_median_s']:.2f} s", flush=True)
        unbounded = build_gateway(Path(home) / "unbounded", CONFIG)
        lifted = {field: 10**9 for field in RequestBounds.model_fields}
        unbounded.app.state.service.bounds = RequestBounds.model_construct(**lifted)
        with serve_app(unbounded.app) as url:
            b = client(url, unbounded.issue_keys("tenant-b"))
            small_probe(b)
            call = hostile_call(enum(20_000, "value-"))
            out["issue"] = after_giving_up(url, unbounded.keys, b, call, give_up_s=10)
            print(f"  issue scenario: {out['issue']}", flush=True)
    return out


# --- report -----------------------------------------------------------------------------------


def write_report(result: dict) -> str:
    lines = [
        "# Engine isolation: hostile requests vs the shared local engine",
        "",
        f"- when: {result['when']}  machine: {result['machine']}  load average before/after: "
        f"{result['load_before']:.2f} / {result['load_after']:.2f} (other jobs share these cores)",
        f"- model: SmolLM2-135M Q4_1 via llama.cpp; {result['tokens']} max tokens per request",
        "",
        "## 1. What a schema costs the engine (1 llama.cpp thread, CPU time; baseline: a plain "
        '`{"v": string}` schema in the same run)',
        "",
        "| bound | shape | schema chars | chunks | CPU s | extra CPU s | CPU/chunk vs plain "
        "| first chunk s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["cost"]:
        h = row["hostile"]
        lines.append(
            f"| {row['bound']} | {row['shape']} | {row['schema_chars']} | {h['chunks']} | {h['cpu_s']:.2f} "
            f"| {row['extra_cpu_s']:.2f} | x{row['per_chunk_ratio']} | {h['first_s']:.2f} |"
        )
    if result.get("gateway"):
        gw = result["gateway"]
        base = gw["baseline"]["b_median_s"]
        lines += [
            "",
            "## 2. Another tenant's small Converse (maxTokens 8) while one tenant sends a hostile request",
            "",
            f"Baseline (alone): B median {base:.2f} s.",
            "",
            "| tenant A sends (back to back; a refused one once) | A requests | A median s | A errors "
            "| B median s "
            "| B max s | B vs baseline |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in gw.items():
            if name in ("baseline", "issue"):
                continue
            a_median = f"{row['a_median_s']:.2f}" if row["a_median_s"] is not None else "-"
            lines.append(
                f"| {name} | {row['a_requests']} | {a_median} | {', '.join(row['a_errors']) or '-'} "
                f"| {row['b_median_s']:.2f} | {row['b_max_s']:.2f} | x{row['b_median_s'] / base:.1f} |"
            )
    if result.get("gateway", {}).get("issue"):
        issue = result["gateway"]["issue"]
        lines += [
            "",
            "Without the bounds (the issue's scenario): tenant A sends an enum of 20,000 values and its "
            f"client gives up after 10 s ({issue['a_outcome']} after {issue['a_s']:.1f} s); tenant B's "
            f"next small request then takes {issue['b_first_after_s']:.1f} s (the engine finishes the "
            "decoding step in progress, then drops A's request), the one after "
            f"{issue['b_second_after_s']:.1f} s.",
        ]
    lines += ["", "Bounds: " + ", ".join(f"{k}={v}" for k, v in result["bounds"].items()), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--probes", type=int, default=5)
    parser.add_argument("--skip-gateway", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "load_before": os.getloadavg()[0],
        "tokens": args.tokens,
        "bounds": BOUNDS.model_dump(),
    }
    print("1. cost per shape", flush=True)
    result["cost"] = cost_per_shape(args.tokens)
    if not args.skip_gateway:
        print("2. isolation at the gateway", flush=True)
        result["gateway"] = gateway_isolation(args.probes)
    result["load_after"] = os.getloadavg()[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = write_report(result)
    (RESULTS / "engine_isolation.md").write_text(report)
    (RESULTS / "engine_isolation.json").write_text(json.dumps(result, indent=2) + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
