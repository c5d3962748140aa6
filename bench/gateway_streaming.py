"""Streaming half of bench/gateway_bench.py: decode tok/s of layer 1's local llama.cpp engine in
this process against the same model served by ``strata serve`` over /v1 SSE, runs alternating."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
from bench_procs import BIN, free_port, issue_key, process, strata_env
from gateway_report import now

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STREAM_MAX_TOKENS = 64
STREAM_SETTINGS = {"n_ctx": 4096, "n_parallel": 1, "threads": min(2, os.cpu_count() or 1)}


def _prompt(tag: int) -> list[dict[str, str]]:
    # A unique tag per run: no run reuses another's prefix cache; both sides get the same prompts.
    return [{"role": "user", "content": f"[run {tag}] Write a short story about a lighthouse keeper."}]


def _decode_rate(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else 0.0


def engine_run(engine, tag: int) -> float:
    body = {"messages": _prompt(tag), "max_tokens": STREAM_MAX_TOKENS, "temperature": 0, "seed": 1}
    stamps = [
        time.perf_counter()
        for chunk in engine.stream_chat({**body, "stream": True})
        for choice in chunk.get("choices") or []
        if (choice.get("delta") or {}).get("content")
    ]
    return _decode_rate(stamps)


def gateway_run(client: httpx.Client, url: str, key: str, tag: int) -> float:
    body = {"model": "local.bench-v1:0", "messages": _prompt(tag), "max_tokens": STREAM_MAX_TOKENS,
            "temperature": 0, "seed": 1, "stream": True}  # fmt: skip
    stamps: list[float] = []
    with client.stream("POST", url, json=body, headers={"Authorization": f"Bearer {key}"}) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                choices = json.loads(line[6:]).get("choices") or []
                if choices and choices[0]["delta"].get("content"):
                    stamps.append(time.perf_counter())
    return _decode_rate(stamps)


def streaming(args: argparse.Namespace, work: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from infrastructure.runtime.engine import ChatEngine, EngineConfig

    port = free_port()
    config = work / "strata-local.toml"
    config.write_text(
        '[[providers]]\nname = "local"\ntype = "local"\n'
        + "".join(f"{k} = {v}\n" for k, v in STREAM_SETTINGS.items())
        + '\n[[models]]\nid = "local.bench-v1:0"\nprovider = "local"\nupstream = "smollm2-135m-instruct"\n'
    )
    home = work / "strata-home"
    key = issue_key(home)
    engine_config = EngineConfig(
        n_ctx=STREAM_SETTINGS["n_ctx"],
        n_parallel=STREAM_SETTINGS["n_parallel"],
        n_threads=STREAM_SETTINGS["threads"],
    )
    rates: dict[str, list[float]] = {"engine": [], "gateway": []}
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with (
        process(
            [str(BIN / "strata"), "serve", "--port", str(port), "--config", str(config)],
            f"http://127.0.0.1:{port}/health",
            env=strata_env(home),
        ),
        ChatEngine(engine_config) as engine,
        httpx.Client(timeout=300) as client,
    ):
        engine_run(engine, -1)  # warm-up both sides (first-request allocations, model load)
        gateway_run(client, url, key, -2)
        for run in range(args.stream_runs):
            rates["engine"].append(engine_run(engine, run))
            rates["gateway"].append(gateway_run(client, url, key, run))
            engine_rate, gateway_rate = rates["engine"][-1], rates["gateway"][-1]
            print(f"  run {run + 1}: engine {engine_rate:.1f} tok/s, gateway {gateway_rate:.1f}", flush=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return medians | {
        "runs": rates,
        "settings": STREAM_SETTINGS,
        "max_tokens": STREAM_MAX_TOKENS,
        "when": now(),
    }


def earlier_streaming() -> dict | None:
    """The streaming figures of the last run that measured them, to keep them in the report."""
    try:
        stream = json.loads((RESULTS / "gateway.json").read_text())["streaming"]
    except (OSError, ValueError, KeyError):
        return None
    if not isinstance(stream, dict):
        return None
    defaults = {"settings": STREAM_SETTINGS, "max_tokens": STREAM_MAX_TOKENS, "when": None}
    return defaults | stream | {"carried_over": True}
