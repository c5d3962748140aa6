"""Benchmark: what the gateway costs, against LiteLLM's proxy and against the raw local engine.

    .venv/bin/python bench/gateway_bench.py [--requests 600] [--concurrency 16] [--rounds 3]
                                            [--skip-litellm] [--skip-stream] [--stream-runs 6]

1. Overhead. A tiny OpenAI-shaped upstream on loopback answers every chat completion at once
   (precomputed bytes, its own process). In front of it, each in its own process: ``strata serve``
   (an ``openai`` provider pointing at the upstream; a real issued API key, rate limits and usage
   metering on, as in production) and the LiteLLM proxy (installed by this script into
   ``bench/.venv-litellm``, not a project dependency; no auth, no database). The same OpenAI
   request goes to the upstream directly (baseline), through strata, through LiteLLM:
   sequential p50 latency (added = p50 − direct p50), then req/s and p50 at concurrency 16.
   Targets are measured in alternating rounds so background load hits all alike; medians kept.
   Goals: strata's added p50 ≤ 1/3 of LiteLLM's; strata's req/s ≥ 2× LiteLLM's.
2. Streaming. The local llama.cpp engine (layer 1's ``ChatEngine``, in this process) against the
   same model served by ``strata serve`` (local provider, same context/slots/threads), streamed
   over ``/v1/chat/completions`` SSE; decode tok/s = (chunks − 1) / (last − first chunk), greedy,
   runs alternating. Goal: gateway ≥ 95 % of the engine's tok/s.

Loopback only, bounded request counts; every process it starts is stopped at the end.
Results: ``bench/results/gateway.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LITELLM_VENV = ROOT / "bench" / ".venv-litellm"
BIN = Path(sys.executable).parent
MODEL = "openai.bench-v1:0"
LITELLM_KEY = "sk-bench-" + os.urandom(16).hex()  # LiteLLM refuses to start without a master key
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 8}
STREAM_MAX_TOKENS = 64


# --- the instant upstream (run as `gateway_bench.py --serve-upstream PORT`) ---------------------

_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    }
).encode()
_SSE = b"".join(
    b"data: " + json.dumps(chunk).encode() + b"\n\n"
    for chunk in (
        {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "bench-model",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi!"}, "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "bench-model",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}},
    )
) + b"data: [DONE]\n\n"  # fmt: skip


async def upstream_app(scope, receive, send):
    """A raw ASGI app: the cheapest server uvicorn can run, so it is never the bottleneck."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"].endswith("/models"):
        payload, kind = (
            b'{"object":"list","data":[{"id":"bench-model","object":"model"}]}',
            b"application/json",
        )
    elif b'"stream":true' in body.replace(b" ", b""):
        payload, kind = _SSE, b"text/event-stream"
    else:
        payload, kind = _COMPLETION, b"application/json"
    headers = [(b"content-type", kind), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def serve_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(upstream_app, host="127.0.0.1", port=port, log_level="error", access_log=False)


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def process(cmd: list[str], ready_url: str, *, env: dict[str, str] | None = None, timeout_s: float = 120):
    """Start ``cmd``, wait until ``ready_url`` answers, stop it (and wait) on exit."""
    log = tempfile.TemporaryFile()  # noqa: SIM115  # closed in the finally below, after the process
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{cmd[0]} exited:\n{log.read().decode()[-3000:]}")
            try:
                httpx.get(ready_url, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[0]} did not start in {timeout_s:.0f}s") from None
                time.sleep(0.1)  # poll interval while a server starts
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def ensure_litellm() -> Path:
    """LiteLLM's proxy in its own venv (the bench's baseline, not a strata dependency)."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    print("installing litellm[proxy] into bench/.venv-litellm (once; a few minutes)…", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    pip = [
        str(LITELLM_VENV / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, "litellm[proxy]"], check=True)
    return exe


def litellm_version() -> str:
    out = subprocess.run(
        [
            str(LITELLM_VENV / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "?"


def strata_env(home: Path) -> dict[str, str]:
    return {"STRATA_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def issue_key(home: Path) -> str:
    out = subprocess.run(
        [str(BIN / "strata"), "keys", "create", "--tenant", "bench",
         "--rpm", "100000000", "--tpm", "1000000000", "--json"],
        env={**os.environ, **strata_env(home)},
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    return json.loads(out.stdout)["apiKey"]


# --- load ----------------------------------------------------------------------------------------


async def _load(url: str, headers: dict[str, str], n: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        queue = iter(range(n))

        async def worker() -> None:
            for _ in queue:
                started = time.perf_counter()
                r = await client.post(url, json=BODY, headers=headers)
                latencies.append(time.perf_counter() - started)
                if r.status_code != 200:
                    raise RuntimeError(f"{url}: HTTP {r.status_code} {r.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


def measure(url: str, headers: dict[str, str], requests: int, concurrency: int) -> dict[str, float]:
    asyncio.run(_load(url, headers, 30, 4))  # warm-up: connections, caches, lazy imports
    sequential, _ = asyncio.run(_load(url, headers, max(50, requests // 6), 1))
    loaded, wall = asyncio.run(_load(url, headers, requests, concurrency))
    return {
        "p50_ms_c1": statistics.median(sequential) * 1000,
        "p50_ms": statistics.median(loaded) * 1000,
        "p90_ms": statistics.quantiles(loaded, n=10)[-1] * 1000,
        "rps": len(loaded) / wall,
    }


def overhead(args: argparse.Namespace, work: Path) -> dict:
    up_port, strata_port, litellm_port = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    config = work / "strata-overhead.toml"
    config.write_text(
        f'[[providers]]\nname = "upstream"\ntype = "openai"\nbase_url = "{upstream}"\n\n'
        f'[[models]]\nid = "{MODEL}"\nprovider = "upstream"\nupstream = "bench-model"\n'
    )
    home = work / "strata-home"
    key = issue_key(home)
    targets = {"direct": (f"{upstream}/chat/completions", {})}
    with ExitStack() as stack:
        stack.enter_context(
            process([sys.executable, __file__, "--serve-upstream", str(up_port)], f"{upstream}/models")
        )
        stack.enter_context(
            process(
                [str(BIN / "strata"), "serve", "--port", str(strata_port), "--config", str(config)],
                f"http://127.0.0.1:{strata_port}/health",
                env=strata_env(home),
            )
        )
        targets["strata"] = (
            f"http://127.0.0.1:{strata_port}/v1/chat/completions",
            {"Authorization": f"Bearer {key}"},
        )
        if not args.skip_litellm:
            exe = ensure_litellm()
            litellm_config = work / "litellm.yaml"
            litellm_config.write_text(
                "model_list:\n"
                f"  - model_name: {MODEL}\n"
                "    litellm_params:\n"
                "      model: openai/bench-model\n"
                f"      api_base: {upstream}\n"
                "      api_key: not-needed\n"
                "litellm_settings:\n  telemetry: false\n"
            )
            stack.enter_context(
                process(
                    [
                        str(exe),
                        "--config",
                        str(litellm_config),
                        "--port",
                        str(litellm_port),
                        "--host",
                        "127.0.0.1",
                    ],
                    f"http://127.0.0.1:{litellm_port}/health/liveliness",
                    env={
                        "LITELLM_MASTER_KEY": LITELLM_KEY,
                        "LITELLM_LOG": "ERROR",
                        "LITELLM_TELEMETRY": "False",
                        "NO_DOCS": "True",
                    },
                    timeout_s=300,
                )
            )
            targets["litellm"] = (
                f"http://127.0.0.1:{litellm_port}/v1/chat/completions",
                {"Authorization": f"Bearer {LITELLM_KEY}"},
            )
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for r in range(args.rounds):
            for name, (url, headers) in targets.items():
                result = measure(url, headers, args.requests, args.concurrency)
                rounds[name].append(result)
                print(
                    f"  round {r + 1} {name:8s} " + "  ".join(f"{k}={v:.2f}" for k, v in result.items()),
                    flush=True,
                )
    return {
        name: {k: statistics.median(x[k] for x in runs) for k in runs[0]} for name, runs in rounds.items()
    }


# --- streaming: gateway vs the raw local engine --------------------------------------------------

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
    return {name: statistics.median(values) for name, values in rates.items()} | {"runs": rates}


# --- report --------------------------------------------------------------------------------------


Ratio = tuple[str, float, str, bool]


def _overhead_lines(args: argparse.Namespace, over: dict) -> tuple[list[str], list[Ratio]]:
    lines = [
        f"- overhead: {args.rounds} alternating rounds a target; each round 30 warm-up, "
        f"{max(50, args.requests // 6)} sequential, {args.requests} at concurrency {args.concurrency}; "
        "medians of the rounds",
        "- upstream: raw ASGI app answering a fixed chat completion at once (its own process)",
        "- strata: `strata serve`, openai provider → upstream, API key auth + rate limits + SQLite "
        "metering on"
        + (f"; LiteLLM {litellm_version()} proxy, master-key auth, no DB" if "litellm" in over else ""),
        "",
        "| target | p50 ms (c=1) | added p50 ms (c=1) | p50 ms (c=16) | p90 ms (c=16) | req/s (c=16) |",
        "|---|---|---|---|---|---|",
    ]
    base = over["direct"]["p50_ms_c1"]
    for name, m in over.items():
        added = "—" if name == "direct" else f"{m['p50_ms_c1'] - base:.2f}"
        cells = [
            f"{m['p50_ms_c1']:.2f}",
            added,
            f"{m['p50_ms']:.2f}",
            f"{m['p90_ms']:.2f}",
            f"{m['rps']:.0f}",
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ratios: list[Ratio] = []
    if "litellm" in over:
        added = (over["strata"]["p50_ms_c1"] - base) / (over["litellm"]["p50_ms_c1"] - base)
        ratios.append(("added p50 latency, strata / LiteLLM", added, "≤ 0.333", added <= 1 / 3))
        rps = over["strata"]["rps"] / over["litellm"]["rps"]
        ratios.append(("req/s at c=16, strata / LiteLLM", rps, "≥ 2.0", rps >= 2))
    return lines, ratios


def _stream_lines(args: argparse.Namespace, stream: dict) -> tuple[list[str], list[Ratio]]:
    lines = [
        "",
        f"- streaming: SmolLM2-135M Q4_1, {STREAM_SETTINGS}, greedy, max_tokens={STREAM_MAX_TOKENS}, "
        f"{args.stream_runs} alternating runs; engine = layer-1 ChatEngine in-process, gateway = "
        "`strata serve` local provider over /v1 SSE",
        "",
        "| side | decode tok/s (median) | runs |",
        "|---|---|---|",
    ]
    for side in ("engine", "gateway"):
        runs = ", ".join(f"{x:.1f}" for x in stream["runs"][side])
        lines.append(f"| {side} | {stream[side]:.1f} | {runs} |")
    ratio = stream["gateway"] / stream["engine"]
    return lines, [("decode tok/s, gateway / engine", ratio, "≥ 0.95", ratio >= 0.95)]


def report(
    args: argparse.Namespace, over: dict | None, stream: dict | None, load: tuple[float, float]
) -> str:
    lines = [
        "# Gateway benchmark: strata vs LiteLLM proxy (overhead) and vs the raw local engine (streaming)",
        "",
        f"- when: {datetime.now(UTC).isoformat(timespec='seconds')}  machine: {platform.machine()} "
        f"{os.cpu_count()} cpu, python {platform.python_version()}  load average before/after: "
        f"{load[0]:.2f} / {load[1]:.2f} (other jobs share these cores; client, gateways and upstream too)",
    ]
    ratios: list[Ratio] = []
    for part, build in ((over, _overhead_lines), (stream, _stream_lines)):
        if part:
            more, found = build(args, part)
            lines += more
            ratios += found
    if ratios:
        lines += ["", "| ratio | value | goal | result |", "|---|---|---|---|"]
        lines += [
            f"| {name} | {value:.3f} | {goal} | {'PASS' if ok else 'FAIL'} |"
            for name, value, goal, ok in ratios
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stream-runs", type=int, default=8)
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-stream", action="store_true")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="strata-gwbench-") as tmp:
        work = Path(tmp)
        print("overhead…", flush=True)
        over = None if args.skip_overhead else overhead(args, work)
        print("streaming…", flush=True)
        stream = None if args.skip_stream else streaming(args, work)
    text = report(args, over, stream, (load_before, os.getloadavg()[0]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gateway.md").write_text(text)
    (RESULTS / "gateway.json").write_text(
        json.dumps({"args": vars(args), "overhead": over, "streaming": stream}, indent=2) + "\n"
    )
    print(text)


if __name__ == "__main__":
    main()
