"""Agents on the gateway, measured against a plain LangChain tool-calling agent in the same run (issue 11).

The task set (bench/data/agents/tasks.json, see PROVENANCE): 34 multi-step tasks in an outdoor
shop, over five action groups — ``catalog`` and ``cart`` (function schemas, Lambda handlers),
``orders`` (an OpenAPI schema, Lambda), ``payments`` (RETURN_CONTROL: the bench pays), AMAZON.UserInput
— and a knowledge base of store policies (bench/data/agents/policies, ingested with the local
MiniLM embeddings). Each task has a checkable end state: the cart, order statuses, new orders
(items, shipping, paid), facts in the answer, facts in the retrieved passages.

For each model, every task runs twice: as a Bedrock agent through boto3's ``invoke_agent`` (the
gateway's loop), and through LangChain's plain tool-calling loop (``ChatBedrockConverse.bind_tools``
on the same model through the same gateway, the same tool names and schemas). Models:

- ``scripted``: a model that follows each task's written plan (bench/agent_paths.OracleProvider).
  It proves the loop — every observation must travel back for the plan to succeed — and, its own
  time being ~0, measures orchestration overhead per step (wall - tools - model) on both paths;
- ``embedded``: the local SmolLM2-135M (llama.cpp), tool calls by grammar-constrained JSON: task
  success, steps, and tool-call validity (goal 100%). Bounded: ``--max-tokens`` per model call and
  ``--task-cap-s`` of wall time per task and path, so the run fits a shared machine;
- ``--model ID --config strata.toml``: any stronger routed model, when one is configured.

    .venv/bin/python bench/agents.py [--models scripted,embedded] [--tasks N] [--task-cap-s S]
                                     [--model ID --config FILE]

Writes bench/results/agents.md and .json (bench/agent_report.py). The gateway, agent and knowledge
base are set up in bench/agent_setup.py, the shop in bench/agent_world.py, the two paths and the
scripted model in bench/agent_paths.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3
from agent_paths import AgentPath, LangChainPath, OracleProvider
from agent_report import RESULTS, notes, summary, write_results
from agent_setup import (
    DATA,
    FUNCTIONS,
    INSTRUCTION,
    LOCAL,
    SCRIPTED,
    gateway_config,
    make_agent,
    make_knowledge_base,
    serve,
    tool_specs,
)
from agent_world import WORLD, check
from botocore.config import Config

from model_layer.agents import AgentSettings, build_agents
from model_layer.app import assemble, create_app
from model_layer.config import parse_config
from model_layer.providers.registry import ModelRouter
from model_layer.sdk.langchain import chat_model
from model_layer.settings import GatewaySettings


def run_path(
    name: str, path: Any, tasks: list[dict[str, Any]], oracle: OracleProvider
) -> list[dict[str, Any]]:
    rows = []
    for task in tasks:
        WORLD.reset(task.get("setup"))
        oracle.task = task
        busy = oracle.busy_s
        outcome = path.run(task)
        problems = check(task, outcome.answer) if outcome.error is None else [outcome.error]
        rows.append(
            {
                "task": task["id"],
                "category": task["category"],
                "success": not problems,
                "problems": problems,
                "steps": outcome.steps,
                "tool_calls": outcome.tool_calls,
                "invalid_calls": outcome.invalid_calls,
                "capped": outcome.capped,
                "wall_s": round(outcome.wall_s, 4),
                "tool_s": round(outcome.tool_s, 4),
                "model_s": round(oracle.busy_s - busy, 6),
            }
        )
        mark = "ok " if not problems else "FAIL"
        print(
            f"  {name:28s} {task['id']:10s} {mark} steps={outcome.steps} {'; '.join(problems)[:120]}",
            flush=True,
        )
    return rows


def sample(tasks: list[dict[str, Any]], per_category: int) -> list[dict[str, Any]]:
    """The first ``per_category`` tasks of each category (all when 0), in task-set order."""
    if not per_category:
        return tasks
    taken: Counter[str] = Counter()
    chosen = []
    for task in tasks:
        if taken[task["category"]] < per_category:
            taken[task["category"]] += 1
            chosen.append(task)
    return chosen


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="scripted,embedded", help="scripted, embedded (comma separated)")
    parser.add_argument("--model", help="also run this routed model id (served by --config)")
    parser.add_argument("--config", type=Path, help="a strata.toml that serves --model")
    parser.add_argument("--tasks", type=int, default=0, help="only the first N tasks (0: all)")
    parser.add_argument(
        "--sample", type=int, default=0, help="non-scripted models: N tasks per category (0: all)"
    )
    parser.add_argument("--max-steps", type=int, default=8, help="model calls per turn, both paths")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens per model call")
    parser.add_argument(
        "--task-cap-s", type=float, default=25.0, help="non-scripted models: wall seconds per task and path"
    )
    return parser.parse_args()


def start_gateway(args: argparse.Namespace, oracle: OracleProvider) -> tuple[Any, Any, Any, AgentSettings]:
    """The gateway (production parts, the scripted provider injected), served on loopback."""
    home = Path(tempfile.mkdtemp(prefix="strata-agents-bench-"))
    os.environ["STRATA_KB_FOLDER_ROOTS"] = str(DATA / "policies")
    # the per-task cap is the clients' (read timeouts): the uncapped warm-up must be able to finish
    settings = AgentSettings(
        functions=FUNCTIONS, max_iterations=args.max_steps, step_timeout_s=30, model_timeout_s=900
    )
    router = ModelRouter(parse_config(gateway_config(args.config)), providers={"oracle": oracle})
    gateway_settings = GatewaySettings(home=home)
    parts = assemble(gateway_settings, router=router)
    app = create_app(gateway_settings, gateway=parts)
    app.state.agents = build_agents(
        parts.keystore.state.db,
        parts.service,
        settings=settings,
        knowledge=lambda: getattr(app.state, "knowledge", None),
    )
    url, server = serve(app)
    return url, server, parts.keystore.create_keys("bench"), settings


def run_model(
    args: argparse.Namespace, name: str, model_id: str, env: dict[str, Any], tasks: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both paths over the tasks on one model: their summaries and raw rows."""
    scripted = name == "scripted"
    cap = None if scripted else args.task_cap_s
    keys, url = env["keys"], env["url"]
    agent_id = make_agent(env["agent"], model_id, env["kb_id"], args.max_tokens)

    def llm(read_timeout: float) -> Any:
        config = Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout)
        return chat_model(
            url,
            model_id,
            access_key=keys.access_key_id,
            secret_key=keys.secret_access_key,
            max_tokens=args.max_tokens,
            temperature=0.0,
            config=config,
        )

    # a capped path's clients time out reads at the cap: one model step cannot outlast it
    runtime = env["session"].client(
        "bedrock-agent-runtime",
        endpoint_url=url,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=cap or 900),
    )
    baseline = LangChainPath(
        llm(cap or 900), env["specs"], env["kb_id"], env["runtime"].retrieve, INSTRUCTION, args.max_steps, cap
    )
    paths = {
        "Bedrock agent (strata)": AgentPath(runtime, agent_id, cap),
        "LangChain tool-calling agent": baseline,
    }
    chosen = tasks if scripted else sample(tasks, args.sample)
    summaries, raw = {}, {}
    for path_name, path in paths.items():
        if not scripted:  # warm the engine's prompt cache for this path, uncounted and uncapped
            warm = time.perf_counter()
            if isinstance(path, AgentPath):
                path.warm_up(env["runtime"])
            else:
                path.warm_up(llm(900))
            print(f"  {path_name}: warm-up {time.perf_counter() - warm:.1f} s", flush=True)
        raw[path_name] = run_path(path_name, path, chosen, env["oracle"])
        summaries[path_name] = summary(raw[path_name], scripted=scripted)
    return summaries, raw


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    tasks = json.loads((DATA / "tasks.json").read_text())["tasks"]
    tasks = tasks[: args.tasks] if args.tasks else tasks
    load_before = os.getloadavg()[0]
    oracle = OracleProvider()
    url, server, keys, settings = start_gateway(args, oracle)
    session = boto3.Session(
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        region_name="us-east-1",
    )
    config = Config(retries={"total_max_attempts": 1}, read_timeout=900)
    agent = session.client("bedrock-agent", endpoint_url=url, config=config)
    runtime = session.client("bedrock-agent-runtime", endpoint_url=url, config=config)
    kb_id = make_knowledge_base(agent)
    oracle.kb_tool = f"knowledge_base_{kb_id}"
    env = {"url": url, "keys": keys, "agent": agent, "runtime": runtime, "kb_id": kb_id, "oracle": oracle}
    env["session"] = session
    env["specs"] = tool_specs(kb_id, settings)
    models = {"scripted": SCRIPTED, "embedded": LOCAL}
    chosen = [(name, models[name]) for name in args.models.split(",") if name]
    if args.model:
        chosen.append((args.model, args.model))
    results: dict[str, Any] = {"models": {}, "raw": {}}
    try:
        for name, model_id in chosen:
            print(f"{name} ({model_id})", flush=True)
            results["models"][name], results["raw"][name] = run_model(args, name, model_id, env, tasks)
    finally:
        server.should_exit = True
    results.update(
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        load=(load_before, os.getloadavg()[0]),
        wall_s=time.monotonic() - started,
        task_count=len(tasks),
        max_steps=args.max_steps,
        max_tokens=args.max_tokens,
        task_cap_s=args.task_cap_s,
        categories=sorted({t["category"] for t in tasks}),
        notes=notes(args),
    )
    write_results(results)
    print((RESULTS / "agents.md").read_text())


if __name__ == "__main__":
    main()
