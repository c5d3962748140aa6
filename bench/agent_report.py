"""What bench/agents.py reports: per-path summaries and bench/results/agents.md / .json.

A summary per (model, path): tasks that reached their checked end state, model calls (steps) and
tool calls, tool-call validity, tasks stopped by the per-task time cap, mean wall time and — for
the scripted model, whose own time is ~0 — the orchestration overhead per step excluding model and
tool time.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
HEADER = (
    "| model | path | success | mean steps | tool calls | tool-call validity | capped | mean wall s "
    "| overhead ms/step (excl. model, tools) |"
)


def summary(rows: list[dict[str, Any]], scripted: bool) -> dict[str, Any]:
    calls = sum(r["tool_calls"] for r in rows)
    steps = sum(r["steps"] for r in rows)
    out = {
        "tasks": len(rows),
        "succeeded": sum(r["success"] for r in rows),
        "success_rate": round(sum(r["success"] for r in rows) / len(rows), 3),
        "mean_steps": round(steps / len(rows), 2),
        "tool_calls": calls,
        "tool_call_validity": round(1 - sum(r["invalid_calls"] for r in rows) / calls, 4) if calls else None,
        "capped": sum(r["capped"] for r in rows),
        "mean_wall_s": round(statistics.mean(r["wall_s"] for r in rows), 3),
    }
    if scripted and steps:
        # the scripted model's own time is measured and ~0: what is left is the loop's
        overhead = sum(r["wall_s"] - r["tool_s"] - r["model_s"] for r in rows) / steps
        out["overhead_ms_per_step"] = round(overhead * 1000, 2)
    per: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        per[r["category"]].append(r["success"])
    out["by_category"] = {c: f"{sum(v)}/{len(v)}" for c, v in sorted(per.items())}
    failures = Counter(p.split(":")[0][:60] for r in rows for p in r["problems"])
    out["top_failures"] = failures.most_common(5)
    return out


def _main_table(results: dict[str, Any]) -> list[str]:
    lines = [HEADER, "|---|---|---|---|---|---|---|---|---|"]
    for model, paths in results["models"].items():
        for path, s in paths.items():
            validity = "-" if s["tool_call_validity"] is None else f"{s['tool_call_validity']:.1%}"
            overhead = s.get("overhead_ms_per_step", "-")
            lines.append(
                f"| {model} | {path} | {s['succeeded']}/{s['tasks']} ({s['success_rate']:.0%}) "
                f"| {s['mean_steps']} | {s['tool_calls']} | {validity} | {s['capped']} "
                f"| {s['mean_wall_s']} | {overhead} |"
            )
    return lines


def _category_table(results: dict[str, Any]) -> list[str]:
    categories = results["categories"]
    lines = ["| model | path | " + " | ".join(categories) + " |", "|---|---|" + "---|" * len(categories)]
    for model, paths in results["models"].items():
        for path, s in paths.items():
            cells = " | ".join(s["by_category"].get(c, "-") for c in categories)
            lines.append(f"| {model} | {path} | {cells} |")
    return lines


def write_results(results: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agents.json").write_text(json.dumps(results, indent=1) + "\n")
    before, after = results["load"]
    lines = [
        "# Agents: the gateway's Bedrock agent vs a plain LangChain tool-calling agent",
        "",
        f"- when: {results['when']}  machine: {results['machine']}  "
        f"load average (1 min) before/after: {before:.2f} / {after:.2f} (other jobs share these cores); "
        f"bench wall time {results['wall_s']:.0f} s",
        f"- task set: {results['task_count']} multi-step tasks (bench/data/agents), five action groups "
        "(catalog, cart: functions + Lambda; orders: OpenAPI + Lambda; payments: RETURN_CONTROL; "
        "AMAZON.UserInput) and a knowledge base of store policies; success = the checked end state",
        "- agent path: boto3 invoke_agent (traces on), the bench answers returnControl; baseline: "
        "ChatBedrockConverse.bind_tools + LangChain's tool-call loop through the same gateway, same "
        f"model, same tool names and schemas; both at most {results['max_steps']} model calls per turn",
        "",
        *_main_table(results),
        "",
        "Success by category:",
        "",
        *_category_table(results),
        "",
        "Most frequent reasons for failed tasks:",
        "",
    ]
    for model, paths in results["models"].items():
        for path, s in paths.items():
            reasons = "; ".join(f"{r} ({n})" for r, n in s["top_failures"]) or "none"
            lines.append(f"- {model} / {path}: {reasons}")
    lines += ["", *results["notes"]]
    (RESULTS / "agents.md").write_text("\n".join(lines) + "\n")


def notes(args: argparse.Namespace) -> list[str]:
    out = [
        "Notes:",
        "- scripted: a model that plays each task's written plan; the plan's later steps depend on what "
        "earlier tool calls returned (order ids) and on the loop carrying every observation back, so it "
        "tests the orchestration, not the model. Its own time is ~0, so wall - tools - model per step is "
        "the orchestration overhead: for the agent one InvokeAgent (session read/write, a metered model "
        "call per step, traces, the event stream), for LangChain one Converse round trip per step through "
        "the same gateway.",
        "- steps: model calls begun on the agent path (its modelInvocationInput traces), answered on the "
        "LangChain path (a call cut off by the time cap is not counted there).",
        "- tool-call validity: calls valid against their tool's JSON schema / all calls (the agent reports "
        "invalid ones as REPROMPT observations; the baseline checks each call with jsonschema).",
        f"- embedded: SmolLM2-135M-Instruct Q4_1 (llama.cpp, 2 CPU threads), temperature 0, at most "
        f"{args.max_tokens} tokens per model call. Tool calls are grammar-constrained on both paths (the "
        "local provider does it for any Converse request with tools), so validity is by construction; "
        "task success measures the model's planning.",
        f"- time cap: models other than scripted get {args.task_cap_s:g} s of wall time per task and path "
        "(checked between steps; the clients' read timeout is the cap too, so one model step cannot "
        "outlast it and the gateway cancels the loop when the client goes); a capped task fails "
        "('capped' column). Before its tasks each path makes one uncounted, uncapped call so that the "
        "engine's prompt cache holds that path's prompt prefix (instruction and tools), as on a server "
        "that has been running.",
    ]
    if args.sample:
        out.append(
            f"- models other than scripted ran the first {args.sample} tasks of each category (the success "
            "column shows how many)."
        )
    if not args.model:
        out.append(
            "- stronger routed model: not configured in this run — none is reachable offline on this "
            "machine (bench/agents.py --model ID --config strata.toml runs one)."
        )
    return out
