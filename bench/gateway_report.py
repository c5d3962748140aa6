"""The readable side of ``gateway_bench``: its results as Markdown tables and goal ratios.

Pure functions over the dicts ``gateway_bench`` measures (the same dicts it writes as JSON), so
the wording of a result file changes here without touching how anything is measured.
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime

Ratio = tuple[str, float, str, bool]
_ROLES = (
    "- thin: `bench/thin_proxy.py`, uvicorn (uvloop + httptools) + raw ASGI app forwarding the body "
    "through one keep-alive httpx client, status/content-type/body back; no auth, no parsing, "
    "no metering (the floor issue 7 set the goals against)\n"
    "- thin_aiohttp: the same proxy with an aiohttp client (`--client aiohttp`), the client strata's "
    "OpenAI-compatible provider uses: the floor for strata's own additions"
)


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def _overhead_table(over: dict) -> list[str]:
    targets = over["targets"]
    base = targets["direct"]["p50_ms_c1"]
    lines = [
        "| target | p50 ms (c=1) | added p50 ms (c=1) | p50 ms (c=16) | p90 ms (c=16) | req/s (c=16) "
        "| gateway CPU ms/req | upstream CPU ms/req | non-200 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in targets.items():
        cells = [
            _fmt(m["p50_ms_c1"]),
            "—" if name == "direct" else _fmt(m["p50_ms_c1"] - base),
            _fmt(m["p50_ms"]),
            _fmt(m["p90_ms"]),
            _fmt(m["rps"], ".0f"),
            _fmt(m.get("gateway_cpu_ms")),
            _fmt(m["upstream_cpu_ms"]),
            _fmt(m["non_200"], ".0f"),
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    rounds = over["rounds"]
    lines += ["", "Per round (variance): added p50 ms (c=1) · req/s (c=16) · gateway CPU ms/req", ""]
    lines += ["| target | " + " | ".join(f"round {r + 1}" for r in range(len(rounds["direct"]))) + " |"]
    lines += ["|---|" + "---|" * len(rounds["direct"])]
    for name, runs in rounds.items():
        if name == "direct":
            continue
        cells = [
            f"{m['p50_ms_c1'] - d['p50_ms_c1']:.2f} · {m['rps']:.0f} · {_fmt(m.get('gateway_cpu_ms'))}"
            for m, d in zip(runs, rounds["direct"], strict=True)
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _overhead_ratios(targets: dict) -> list[Ratio]:
    base = targets["direct"]["p50_ms_c1"]
    added = {name: m["p50_ms_c1"] - base for name, m in targets.items()}
    strata = targets["strata"]
    ratios: list[Ratio] = []
    for thin in ("thin", "thin_aiohttp"):
        if thin in targets:
            value = added["strata"] / added[thin]
            ratios.append((f"added p50 latency (c=1), strata / {thin}", value, "≤ 1.5", value <= 1.5))
    if "litellm" in targets:
        value = added["strata"] / added["litellm"]
        ratios.append(("added p50 latency (c=1), strata / LiteLLM", value, "≤ 0.2", value <= 0.2))
        value = strata["rps"] / targets["litellm"]["rps"]
        ratios.append(("req/s at c=16, strata / LiteLLM", value, "≥ 4.0", value >= 4))
    for thin in ("thin", "thin_aiohttp"):
        if thin in targets:
            value = strata["gateway_cpu_ms"] / targets[thin]["gateway_cpu_ms"]
            ratios.append((f"gateway CPU per request, strata / {thin}", value, "≤ 1.5", value <= 1.5))
    return ratios


def _overhead_lines(args: argparse.Namespace, over: dict) -> tuple[list[str], list[Ratio]]:
    metering = over["metering"]
    lines = [
        f"- overhead: {args.rounds} alternating rounds a target; each round 30 warm-up, "
        f"{args.sequential} sequential, {args.requests} at concurrency {args.concurrency}; "
        "medians of the rounds; CPU ms/req = CPU (user+sys, /proc, process tree) used during the "
        "concurrent phase / requests",
        "- upstream: raw ASGI app answering a fixed chat completion at once (its own process)",
        *([_ROLES] if "thin" in over["targets"] else []),
        "- strata: `strata serve`, openai provider → upstream; API key from `strata keys create` "
        "(tenant rpm 1e8, tpm 1e9: never throttles), rate limits + usage metering on; "
        f"metered {_fmt(metering['metered'], '')} of {metering['sent']} requests sent",
        *(
            [f"- litellm: LiteLLM {over['litellm_version']} proxy, master-key auth, no DB"]
            if "litellm" in over["targets"]
            else []
        ),
        "",
        *_overhead_table(over),
    ]
    return lines, _overhead_ratios(over["targets"])


def _stream_lines(args: argparse.Namespace, stream: dict) -> tuple[list[str], list[Ratio]]:
    carried = (
        f" (carried over from the run of {stream.get('when') or 'an earlier date'}: "
        "this run had --skip-stream)"
        if stream.get("carried_over")
        else ""
    )
    lines = [
        "",
        f"- streaming{carried}: SmolLM2-135M Q4_1, {stream['settings']}, greedy, "
        f"max_tokens={stream['max_tokens']}, {len(stream['runs']['engine'])} alternating runs; "
        "engine = layer-1 ChatEngine in-process, gateway = `strata serve` local provider over /v1 SSE",
        "",
        "| side | decode tok/s (median) | runs |",
        "|---|---|---|",
    ]
    for side in ("engine", "gateway"):
        runs = ", ".join(f"{x:.1f}" for x in stream["runs"][side])
        lines.append(f"| {side} | {stream[side]:.1f} | {runs} |")
    ratio = stream["gateway"] / stream["engine"]
    name = "decode tok/s, gateway / engine" + (" (earlier run)" if carried else "")
    return lines, [(name, ratio, "≥ 0.95", ratio >= 0.95)]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def report(
    args: argparse.Namespace, over: dict | None, stream: dict | None, load: tuple[float, float], when: str
) -> str:
    lines = [
        "# Gateway benchmark: strata vs a thin proxy and LiteLLM (overhead), vs the local engine (streaming)",
        "",
        f"- when: {when}  machine: {platform.machine()} "
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


def profile_report(args: argparse.Namespace, profile: dict, when: str) -> str:
    """``gateway.profile.md``: where strata's CPU goes under the concurrent load (py-spy samples)."""
    lines = [
        "# Where strata's CPU goes: py-spy on `strata serve` under the overhead load",
        "",
        f"- when: {when}; {profile['requests']} requests at "
        f"concurrency {args.concurrency} through strata (openai provider → instant upstream), "
        f"{profile['rps_under_profiler']:.0f} req/s under the profiler, {profile['non_200']} non-200",
        f"- {profile['samples']} samples at 100 Hz (`py-spy record --nonblocking --subprocesses "
        f"--format raw`, idle threads left out; {profile['partial_pct']:.0f} % read only in part, "
        f"a cost of not pausing the gateway); raw stacks: `{profile['raw']}`",
        "- self = the function was on top of the stack (its own code, or C code it called: the "
        "event loop's own work in uvloop shows as `Runner.run`); total = anywhere on the stack "
        "(frames on every sample left out); py-spy shortens paths to the import path",
    ]
    tables = (
        ("packages", "Self time by package"),
        ("self", "Self time"),
        ("total", "Total time"),
        ("ours", "Total time in strata's own functions"),
    )
    for key, title in tables:
        lines += ["", f"## {title}", "", "| % of samples | where |", "|---|---|"]
        lines += [f"| {share:.1f} | `{name}` |" for name, share in profile[key]]
    return "\n".join(lines) + "\n"
