"""Benchmark: what the gateway costs, against a bare pass-through, LiteLLM's proxy and the raw engine.

    .venv/bin/python bench/gateway_bench.py [--requests 600] [--concurrency 16] [--rounds 5]
                                            [--sequential 300] [--skip-thin] [--skip-litellm] [--skip-stream]
                                            [--stream-runs 8] [--profile-requests 0]

1. Overhead. A tiny OpenAI-shaped upstream on loopback answers every chat completion at once
   (precomputed bytes, its own process). In front of it, each in its own process: a thin
   pass-through proxy (``bench/thin_proxy.py``: uvicorn with uvloop + httptools, a raw ASGI app
   forwarding the body through one keep-alive client; no auth, no parsing: the floor a Python
   gateway can reach) twice, ``thin`` with an httpx client (the floor issue 7 measured against)
   and ``thin_aiohttp`` with the aiohttp client strata's provider uses, ``strata serve`` (an
   ``openai`` provider pointing at the upstream; an API key issued with ``strata keys create``, a
   tenant with rate limits far above the load, usage metering on, as in production) and the
   LiteLLM proxy (pinned, installed by this script into ``bench/.venv-litellm``, not a project
   dependency; master-key auth, no database). The
   same OpenAI request goes to the upstream directly (baseline), through each proxy: sequential
   p50 latency (added = p50 − direct p50), then req/s and p50 at concurrency 16, during which
   the CPU seconds (user + system, from /proc, the process and its descendants) of the proxy
   and of the upstream are read: CPU per request = CPU used / requests in that phase. Targets
   are measured in alternating rounds so background load hits all alike; medians kept.
   Goals (issue 7 §6): strata's added p50 ≤ 1.5× the thin proxy's and ≤ 0.2× LiteLLM's; strata's
   req/s ≥ 4× LiteLLM's; strata's CPU per request ≤ 1.5× the thin proxy's. The two thin-proxy
   ratios are reported against both thin proxies: against ``thin`` as the issue set them, and
   against ``thin_aiohttp``, which shows what strata adds over the same client.
   ``--profile-requests N``: afterwards, N more requests at the same concurrency through strata
   under py-spy; its hot spots go to ``bench/results/gateway.profile.md``.
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
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from bench_procs import BIN, free_port, issue_key, process, strata_env
from gateway_report import now, profile_report, report
from gateway_streaming import earlier_streaming, streaming
from server_cpu import Profile, hot_spots, tree_cpu_s
from thin_proxy import read_body

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LITELLM_VENV = ROOT / "bench" / ".venv-litellm"
LITELLM_VERSION = "1.106.2"  # pinned: the version issue 7 measured; change it deliberately
THIN_PROXY = Path(__file__).resolve().parent / "thin_proxy.py"
MODEL = "openai.bench-v1:0"
LITELLM_KEY = "sk-bench-" + os.urandom(16).hex()  # LiteLLM refuses to start without a master key
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 8}


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
    body = await read_body(receive)
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
    subprocess.run([*pip, f"litellm[proxy]=={LITELLM_VERSION}"], check=True)
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


# --- load ----------------------------------------------------------------------------------------


async def _load(
    url: str, headers: dict[str, str], n: int, concurrency: int, *, strict: bool = False
) -> tuple[list[float], float, int]:
    """``n`` requests over ``concurrency`` connections: latencies of the 200s, wall time, non-200s."""
    latencies: list[float] = []
    failed = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        queue = iter(range(n))

        async def worker() -> None:
            nonlocal failed
            for _ in queue:
                started = time.perf_counter()
                r = await client.post(url, json=BODY, headers=headers)
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                elif strict:
                    raise RuntimeError(f"{url}: HTTP {r.status_code} {r.text[:300]}")
                else:  # counted and reported (a throttle would show here), not fatal mid-run
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started, failed


def measure(
    url: str, headers: dict[str, str], args: argparse.Namespace, servers: dict[str, int]
) -> dict[str, float]:
    """One round on one target; ``servers`` (role → pid) are charged CPU for the concurrent phase."""
    asyncio.run(_load(url, headers, 30, 4, strict=True))  # warm-up: connections, caches, lazy imports
    requests, concurrency = args.requests, args.concurrency
    sequential, _, failed_c1 = asyncio.run(_load(url, headers, args.sequential, 1))
    cpu_before = {role: tree_cpu_s(pid) for role, pid in servers.items()}
    loaded, wall, failed = asyncio.run(_load(url, headers, requests, concurrency))
    cpu = {
        f"{role}_cpu_ms": (tree_cpu_s(pid) - cpu_before[role]) * 1000 / requests
        for role, pid in servers.items()
    }
    return {
        "p50_ms_c1": statistics.median(sequential) * 1000,
        "p50_ms": statistics.median(loaded) * 1000,
        "p90_ms": statistics.quantiles(loaded, n=10)[-1] * 1000,
        "rps": len(loaded) / wall,
        **cpu,
        "non_200": failed_c1 + failed,
    }


def strata_config(work: Path, upstream: str) -> Path:
    config = work / "strata-overhead.toml"
    config.write_text(
        f'[[providers]]\nname = "upstream"\ntype = "openai"\nbase_url = "{upstream}"\n\n'
        f'[[models]]\nid = "{MODEL}"\nprovider = "upstream"\nupstream = "bench-model"\n'
    )
    return config


def start_thin(stack: ExitStack, port: int, upstream: str, pool: int, client: str) -> subprocess.Popen:
    return stack.enter_context(
        process(
            [sys.executable, str(THIN_PROXY), "--port", str(port), "--upstream", upstream,
             "--pool", str(pool), "--client", client],
            f"http://127.0.0.1:{port}/v1/models",
        )
    )  # fmt: skip


def start_litellm(stack: ExitStack, work: Path, upstream: str, port: int) -> subprocess.Popen:
    exe = ensure_litellm()
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        "      model: openai/bench-model\n"
        f"      api_base: {upstream}\n"
        "      api_key: not-needed\n"
        "litellm_settings:\n  telemetry: false\n"
    )
    return stack.enter_context(
        process(
            [str(exe), "--config", str(config), "--port", str(port), "--host", "127.0.0.1"],
            f"http://127.0.0.1:{port}/health/liveliness",
            env={
                "LITELLM_MASTER_KEY": LITELLM_KEY,
                "LITELLM_LOG": "ERROR",
                "LITELLM_TELEMETRY": "False",
                "NO_DOCS": "True",
            },
            timeout_s=300,
        )
    )


def metered_requests(home: Path) -> int | None:
    """Requests the gateway metered for the bench tenant (``strata usage``), None if it can't say."""
    out = subprocess.run(
        [str(BIN / "strata"), "usage", "--tenant", "bench", "--json"],
        env={**os.environ, **strata_env(home)},
        capture_output=True,
        text=True,
    )
    try:
        return sum(int(row["requests"]) for row in json.loads(out.stdout))
    except (ValueError, KeyError, TypeError):
        print(f"  strata usage gave no count: {out.stdout[-300:]}{out.stderr[-300:]}", flush=True)
        return None


def overhead(args: argparse.Namespace, work: Path) -> dict:
    up_port, thin_port, strata_port, litellm_port = free_port(), free_port(), free_port(), free_port()
    thin_aio_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    home = work / "strata-home"
    key = issue_key(home)
    targets: dict[str, tuple[str, dict[str, str], int | None]] = {}
    with ExitStack() as stack:
        up = stack.enter_context(
            process([sys.executable, __file__, "--serve-upstream", str(up_port)], f"{upstream}/models")
        )
        targets["direct"] = (f"{upstream}/chat/completions", {}, None)
        if not args.skip_thin:
            thins = (("thin", "httpx", thin_port), ("thin_aiohttp", "aiohttp", thin_aio_port))
            for name, client, port in thins:
                thin = start_thin(stack, port, upstream, max(16, args.concurrency), client)
                targets[name] = (f"http://127.0.0.1:{port}/v1/chat/completions", {}, thin.pid)
        gateway = stack.enter_context(
            process(
                [str(BIN / "strata"), "serve", "--port", str(strata_port),
                 "--config", str(strata_config(work, upstream))],
                f"http://127.0.0.1:{strata_port}/health",
                env=strata_env(home),
            )
        )  # fmt: skip
        strata_url = f"http://127.0.0.1:{strata_port}/v1/chat/completions"
        strata_auth = {"Authorization": f"Bearer {key}"}
        targets["strata"] = (strata_url, strata_auth, gateway.pid)
        if not args.skip_litellm:
            litellm = start_litellm(stack, work, upstream, litellm_port)
            targets["litellm"] = (
                f"http://127.0.0.1:{litellm_port}/v1/chat/completions",
                {"Authorization": f"Bearer {LITELLM_KEY}"},
                litellm.pid,
            )
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        sent_to_strata = 0
        for r in range(args.rounds):
            for name, (url, headers, pid) in targets.items():
                servers = {"upstream": up.pid} | ({"gateway": pid} if pid else {})
                result = measure(url, headers, args, servers)
                rounds[name].append(result)
                sent_to_strata += (30 + args.sequential + args.requests) * (name == "strata")
                print(
                    f"  round {r + 1} {name:8s} " + "  ".join(f"{k}={v:.2f}" for k, v in result.items()),
                    flush=True,
                )
        profile = None
        if args.profile_requests:
            profile = profile_strata(args, strata_url, strata_auth, gateway.pid)
            sent_to_strata += args.profile_requests
    medians = {
        name: {k: statistics.median(x[k] for x in runs) for k in runs[0]} for name, runs in rounds.items()
    }
    metering = {"sent": sent_to_strata, "metered": metered_requests(home)}  # after strata stopped: flushed
    print(f"  strata metering: {metering}", flush=True)
    version = None if args.skip_litellm else litellm_version()
    return {"targets": medians, "rounds": rounds, "metering": metering, "profile": profile} | {
        "litellm_version": version
    }


def profile_strata(args: argparse.Namespace, url: str, headers: dict[str, str], pid: int) -> dict:
    """py-spy on ``strata serve`` during ``--profile-requests`` requests at ``--concurrency``."""
    raw = Path(args.profile_raw)
    print(f"  profiling strata (pid {pid}) with py-spy over {args.profile_requests} requests…", flush=True)
    with Profile(pid, raw) as spy:
        loaded, wall, failed = asyncio.run(_load(url, headers, args.profile_requests, args.concurrency))
    said = [line for line in spy.log.splitlines() if "Samples" in line] or ["py-spy said nothing"]
    print(f"  {said[0]}", flush=True)
    spots = hot_spots(raw, ROOT, top=25, ours=("model_layer/", "strata/"))
    return {"requests": args.profile_requests, "rps_under_profiler": len(loaded) / wall,
            "non_200": failed, "raw": str(raw)} | spots  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--sequential", type=int, default=300, help="requests at concurrency 1 per round (the added p50)"
    )
    parser.add_argument("--stream-runs", type=int, default=8)
    parser.add_argument("--skip-thin", action="store_true", help="no thin pass-through proxy target")
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-stream", action="store_true")
    parser.add_argument(
        "--profile-requests", type=int, default=0, help="then profile strata with py-spy over N requests"
    )
    parser.add_argument("--profile-raw", default="/tmp/strata-gateway-profile.txt", help="py-spy raw output")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    load_before, when = os.getloadavg()[0], now()
    with tempfile.TemporaryDirectory(prefix="strata-gwbench-") as tmp:
        work = Path(tmp)
        print("overhead…", flush=True)
        over = None if args.skip_overhead else overhead(args, work)
        print("streaming…", flush=True)
        stream = earlier_streaming() if args.skip_stream else streaming(args, work)
    load = (load_before, os.getloadavg()[0])
    text = report(args, over, stream, load, when)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gateway.md").write_text(text)
    run = {"when": when, "load_average_before_after": load, "args": vars(args)}
    (RESULTS / "gateway.json").write_text(
        json.dumps(run | {"overhead": over, "streaming": stream}, indent=2) + "\n"
    )
    if over and over["profile"]:
        (RESULTS / "gateway.profile.md").write_text(profile_report(args, over["profile"], when))
    print(text)


if __name__ == "__main__":
    main()
