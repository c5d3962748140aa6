"""Benchmark: strata's ChatEngine against the raw xllamacpp binding, in the same run.

    .venv/bin/python bench/runtime_bench.py [--runs 8] [--tokens 96] [--trials 3]

Both sides load the same GGUF with the same parameters (context, slots, threads, greedy sampling,
``ignore_eos`` so every run decodes exactly ``--tokens`` tokens) and stream the same requests,
alternating raw / strata so background load hits both alike. Each request starts with a unique
tag so no run benefits from another's prefix cache. Measured from Python, as a user sees it:

- time to first token (TTFT): request sent → first content chunk received;
- decode tokens/s: (tokens − 1) / (last chunk − first chunk).

Then the prefix cache: a ~1,000-token shared system prompt, cold (first use) vs warm (same prefix,
another question), TTFT compared. Goals: decode ≥ 95 % of raw, TTFT ≤ raw + 10 %, warm ≤ 30 % of cold.
Results: ``bench/results/runtime.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infrastructure.runtime.engine import ChatEngine, EngineConfig  # noqa: E402
from infrastructure.runtime.weights import default_chat_model_path  # noqa: E402

RESULTS = ROOT / "bench" / "results"
N_CTX, N_PARALLEL, THREADS = 4096, 1, min(2, os.cpu_count() or 1)


def raw_server(model: Path):
    """The baseline: xllamacpp.Server configured exactly as ChatEngine configures it."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx, params.n_parallel, params.use_jinja = N_CTX, N_PARALLEL, True
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = THREADS
    params.warmup, params.verbosity = False, -1
    return xllamacpp.Server(params)


def raw_stream(server, request: dict) -> Iterator[dict]:
    """Stream through the binding's callback, the minimum any Python caller must do."""
    chunks: queue.Queue = queue.Queue()
    done = object()

    def on_chunk(chunk: dict) -> bool:
        chunks.put(chunk)
        return False  # keep going

    def work() -> None:
        server.handle_chat_completions({**request, "stream": True}, on_chunk)
        chunks.put(done)

    threading.Thread(target=work, daemon=True).start()
    while (item := chunks.get()) is not done:
        yield item


def timed(stream: Callable[[dict], Iterator[dict]], request: dict) -> dict:
    """TTFT and decode rate of one streamed request."""
    start = time.perf_counter()
    stamps, timings = [], {}
    for chunk in stream(request):
        timings = chunk.get("timings") or timings
        for choice in chunk.get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                stamps.append(time.perf_counter())
    if len(stamps) < 2:
        raise RuntimeError("the model produced fewer than two content chunks")
    return {
        "ttft_ms": (stamps[0] - start) * 1000,
        "decode_tps": (len(stamps) - 1) / (stamps[-1] - stamps[0]),
        "chunks": len(stamps),
        # llama.cpp's own clock: the same work seen from inside, a control for machine noise.
        "engine_tps": timings.get("predicted_per_second", 0.0),
    }


def request(
    tag: str, tokens: int, system: str | None = None, question: str = "Tell me a long story."
) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": f"[{tag}] {question}"})
    return {
        "messages": messages,
        "max_tokens": tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream_options": {"include_usage": True},  # both sides: strata always asks for usage
    }


def engine_vs_raw(engine: ChatEngine, server, runs: int, tokens: int) -> dict:
    raw, ours = [], []
    timed(engine.stream_chat, request("warmup-a", 8))  # first-use costs (threads, caches) on both
    timed(lambda r: raw_stream(server, r), request("warmup-b", 8))
    for i in range(runs):
        # Swap who goes first each round: neither side always follows the other's cache traffic.
        sides = [(raw, lambda r: raw_stream(server, r)), (ours, engine.stream_chat)]
        for rows, stream in sides if i % 2 == 0 else sides[::-1]:
            rows.append(timed(stream, request(f"run-{i}-{len(rows)}-{id(rows)}", tokens)))

    def summary(rows: list[dict]) -> dict:
        # Best-of-N (as timeit does) is what the code can do when nothing else steals the cores;
        # medians are kept to show how much the shared machine disturbed the runs.
        ttft, tps = [r["ttft_ms"] for r in rows], [r["decode_tps"] for r in rows]
        return {
            "ttft_ms": min(ttft),
            "decode_tps": max(tps),
            "median_ttft_ms": statistics.median(ttft),
            "median_decode_tps": statistics.median(tps),
            "engine_decode_tps": max(r["engine_tps"] for r in rows),
        }

    return {
        "raw": summary(raw),
        "strata": summary(ours),
        "runs": runs,
        "tokens": tokens,
        "samples": {"raw": raw, "strata": ours},
    }


def shared_prefix(seed: int) -> str:
    rules = " ".join(f"Rule {seed}.{i}: aisle {i % 12} holds item {i * 7 + seed}." for i in range(45))
    return f"You are a store assistant (catalogue {seed}). {rules}"


def prefix_cache(engine: ChatEngine, trials: int) -> dict:
    cold, warm, prompt, cached = [], [], [], []
    for trial in range(trials):
        system = shared_prefix(1000 + trial)  # a prefix never seen before: truly cold
        cold.append(timed(engine.stream_chat, request("q1", 4, system, "Where is item 7?"))["ttft_ms"])
        before = engine.cache_stats()["cached_tokens"]
        warm.append(timed(engine.stream_chat, request("q2", 4, system, "Where is item 9?"))["ttft_ms"])
        cached.append(engine.cache_stats()["cached_tokens"] - before)
        prompt.append(engine.count_tokens(request("q2", 4, system, "Where is item 9?")["messages"]))
    return {
        "prompt_tokens": statistics.median(prompt),
        "cached_tokens": statistics.median(cached),
        "cold_ttft_ms": statistics.median(cold),
        "warm_ttft_ms": statistics.median(warm),
        "trials": trials,
    }


def verdicts(result: dict) -> list[tuple[str, float, str, bool]]:
    vs, pc = result["engine_vs_raw"], result["prefix_cache"]
    decode = vs["strata"]["decode_tps"] / vs["raw"]["decode_tps"]
    ttft = vs["strata"]["ttft_ms"] / vs["raw"]["ttft_ms"]
    warm = pc["warm_ttft_ms"] / pc["cold_ttft_ms"]
    return [
        ("decode tok/s, strata / raw", decode, "≥ 0.95", decode >= 0.95),
        ("TTFT, strata / raw", ttft, "≤ 1.10", ttft <= 1.10),
        ("TTFT warm prefix / cold", warm, "≤ 0.30", warm <= 0.30),
    ]


def write_report(result: dict) -> str:
    vs, pc = result["engine_vs_raw"], result["prefix_cache"]
    lines = [
        "# Runtime benchmark: strata ChatEngine vs raw xllamacpp",
        "",
        f"- when: {result['when']}  machine: {result['machine']}  load average before/after: "
        f"{result['load_before']:.2f} / {result['load_after']:.2f} (other jobs share these cores)",
        f"- model: {result['model']}  n_ctx={N_CTX} n_parallel={N_PARALLEL} threads={THREADS}",
        f"- {vs['runs']} alternating streamed runs a side, {vs['tokens']} tokens each, greedy",
        "",
        "| measure | raw xllamacpp best | strata best | raw median | strata median |",
        "|---|---|---|---|---|",
        f"| TTFT (ms) | {vs['raw']['ttft_ms']:.1f} | {vs['strata']['ttft_ms']:.1f} "
        f"| {vs['raw']['median_ttft_ms']:.1f} | {vs['strata']['median_ttft_ms']:.1f} |",
        f"| decode (tok/s) | {vs['raw']['decode_tps']:.1f} | {vs['strata']['decode_tps']:.1f} "
        f"| {vs['raw']['median_decode_tps']:.1f} | {vs['strata']['median_decode_tps']:.1f} |",
        f"| decode inside llama.cpp (tok/s, control) | {vs['raw']['engine_decode_tps']:.1f} "
        f"| {vs['strata']['engine_decode_tps']:.1f} | | |",
        "",
        f"Prefix cache ({pc['trials']} trials, ~{pc['prompt_tokens']:.0f}-token prompt, "
        f"{pc['cached_tokens']:.0f} tokens reused): cold TTFT {pc['cold_ttft_ms']:.1f} ms, "
        f"warm TTFT {pc['warm_ttft_ms']:.1f} ms.",
        "",
        "Ratios use the best runs (least disturbed by other processes); prefix-cache figures are medians.",
        "",
        "| ratio | value | goal | result |",
        "|---|---|---|---|",
        *(
            f"| {name} | {value:.3f} | {goal} | {'PASS' if ok else 'FAIL'} |"
            for name, value, goal, ok in verdicts(result)
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()

    model = default_chat_model_path()
    load_before = os.getloadavg()[0]
    engine = ChatEngine(
        EngineConfig(model_path=str(model), n_ctx=N_CTX, n_parallel=N_PARALLEL, n_threads=THREADS)
    )
    server = raw_server(model)
    try:
        result = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
            "model": model.name,
            "load_before": load_before,
            "engine_vs_raw": engine_vs_raw(engine, server, args.runs, args.tokens),
            "prefix_cache": prefix_cache(engine, args.trials),
        }
        result["load_after"] = os.getloadavg()[0]
    finally:
        engine.close()
        del server
    result["verdicts"] = [
        {"measure": n, "ratio": round(v, 4), "goal": g, "pass": ok} for n, v, g, ok in verdicts(result)
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = write_report(result)
    (RESULTS / "runtime.md").write_text(report)
    (RESULTS / "runtime.json").write_text(json.dumps(result, indent=2) + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
