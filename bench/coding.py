"""Bench: the coding companion on its task set (bench/data/coding), scripted model vs embedded model.

Runs a real gateway in-process on loopback (the embedded SmolLM2 via llama.cpp, MiniLM embeddings,
and a scripted "oracle" model that returns each task's known patch, which proves the pipeline) and
drives the companion's own functions (the ones ``strata code`` calls) through the SDK:

- fix / generation pass rates, and false success claims: the companion said "fixed"/"generated"
  but an independent sandboxed re-run of the written workspace fails (goal 0 for every model);
  generation is scored on hidden tests the model never saw;
- migrations (deterministic, no model): codemods + ruff vs ruff's pyupgrade fixes alone (the
  baseline), with the tests before and after;
- sandbox containment of hostile snippets (goal: all);
- docs questions: answer and citation accuracy, and "not in docs" for questions the docs don't
  answer;
- wall time per task. Writes bench/results/coding.md and coding.json with the load average.

    timeout 1800 .venv/bin/python bench/coding.py [--skip-embedded] [--embedded-attempts 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import uvicorn

from applications.coding.ask import NOT_ANSWERED, run_ask
from applications.coding.codemods import rewrite_source
from applications.coding.companion import CodeSettings, run_fix, run_generate
from applications.coding.migrate import migrate, run_ruff_upgrades
from applications.coding.sandbox import Sandbox, SandboxLimits
from applications.coding.workspace import Workspace
from model_layer.app import assemble, create_app
from model_layer.config import parse_config
from model_layer.providers.registry import ModelRouter
from model_layer.serving import uvicorn_config
from model_layer.settings import GatewaySettings
from model_layer.types import BlockDelta, BlockStop, ChatRequest, MessageStart, MessageStop, Metadata, Usage

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "coding"
RESULTS = HERE / "results"
ORACLE, LOCAL, EMBED = (
    "scripted.oracle-coder-v1:0",
    "local.smollm2-135m-instruct-v1:0",
    "amazon.minilm-l6-v2:0",
)
SECRET = "BENCHSECRET-4f1c"
TASK_LIMITS = SandboxLimits(wall_s=60, cpu_s=60)
HOSTILE_LIMITS = SandboxLimits(
    wall_s=8, cpu_s=4, memory_bytes=1 << 30, file_bytes=16 << 20, disk_bytes=64 << 20
)


def load_tasks() -> Any:
    spec = importlib.util.spec_from_file_location("coding_tasks", DATA / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class OracleProvider:
    """The scripted model: answers with ``self.answer`` (a string, or a function of the prompt)."""

    name: ClassVar[str] = "oracle"
    supports_tools: ClassVar[bool] = False
    supports_embeddings: ClassVar[bool] = False

    def __init__(self) -> None:
        self.answer: Any = ""

    def models(self) -> list:
        return []

    async def converse_stream(self, request: ChatRequest) -> AsyncIterator:
        prompt = json.dumps(request.messages)
        text = self.answer(prompt) if callable(self.answer) else self.answer
        yield MessageStart()
        yield BlockDelta(0, text=text)
        yield BlockStop(0)
        yield MessageStop("end_turn")
        yield Metadata(Usage(input_tokens=len(prompt) // 4, output_tokens=len(text) // 4))

    async def embed(self, model_id: str, texts: list[str]):
        raise NotImplementedError

    async def count_tokens(self, request: ChatRequest) -> int:
        return 1

    async def aclose(self) -> None:
        return None


def gateway_config() -> dict[str, Any]:
    return {
        "providers": [{"name": "oracle", "type": "fake"}, {"name": "local", "type": "local"}],
        "models": [
            {"id": ORACLE, "provider": "oracle", "provider_name": "Strata"},
            {"id": LOCAL, "provider": "local", "upstream": "smollm2-135m-instruct", "context_window": 8192},
            {
                "id": EMBED,
                "provider": "local",
                "upstream": "all-minilm-l6-v2",
                "kind": "embedding",
                "native_format": "titan-embed",
                "streaming": False,
                "context_window": 256,
            },
        ],
        "retry": {"max_attempts": 1},
    }


def start_gateway(home: Path, oracle: OracleProvider) -> tuple[str, str, uvicorn.Server]:
    router = ModelRouter(parse_config(gateway_config()), providers={"oracle": oracle})
    settings = GatewaySettings(home=home)
    parts = assemble(settings, router=router)
    app = create_app(settings, gateway=parts)
    key = parts.keystore.create_keys("bench").api_key
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, settings, host="127.0.0.1", port=port))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the bench gateway did not start")
        time.sleep(0.05)  # bounded polling for uvicorn's start flag
    return f"http://127.0.0.1:{port}", key, server


def write_files(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body)
    return root


def independent_run(root: Path) -> bool:
    return Sandbox(TASK_LIMITS).run_tests(root).passed


def bench_fixes(
    tasks: Any, settings: CodeSettings, oracle: OracleProvider, scratch: Path, limit: int | None = None
) -> list[dict]:
    rows = []
    for task in tasks.FIXES[:limit]:
        root = write_files(scratch / f"fix-{settings.model_id[:6]}-{task['id']}", task["files"])
        oracle.answer = task["patch"]
        started = time.monotonic()
        report = run_fix(settings, root, "The tests fail: find the bug and fix it.")
        wall = time.monotonic() - started
        claimed = report.status == "fixed"
        verified = independent_run(root)
        rows.append(
            {"id": task["id"], "class": task["class"], "status": report.status, "claimed": claimed,
             "verified": verified, "false_claim": claimed and not verified,
             "model_calls": len(report.model_calls), "wall_s": round(wall, 2)}
        )  # fmt: skip
    return rows


def bench_generation(
    tasks: Any, settings: CodeSettings, oracle: OracleProvider, scratch: Path, limit: int | None = None
) -> list[dict]:
    rows = []
    for task in tasks.GENERATION[:limit]:
        root = write_files(scratch / f"gen-{settings.model_id[:6]}-{task['id']}", task["files"])
        oracle.answer = task["patch"]
        started = time.monotonic()
        report = run_generate(settings, root, "Implement the function in mod.py as its docstring says.")
        wall = time.monotonic() - started
        claimed = report.status == "generated"
        verified = independent_run(root)  # the visible example test, re-run
        (root / "test_hidden.py").write_text(task["hidden"])
        hidden = independent_run(root)
        rows.append(
            {"id": task["id"], "status": report.status, "claimed": claimed, "verified": verified,
             "hidden_pass": hidden, "false_claim": claimed and not verified,
             "model_calls": len(report.model_calls), "wall_s": round(wall, 2)}
        )  # fmt: skip
    return rows


def _deprecated_left(ws: Workspace) -> int:
    return sum(len(rewrite_source(ws.read(rel)).left) + _rewritable(ws.read(rel)) for rel in ws.files(".py"))


def _rewritable(source: str) -> int:
    return len(rewrite_source(source).applied)


def bench_migrations(tasks: Any, scratch: Path) -> list[dict]:
    rows = []
    sandbox = Sandbox(TASK_LIMITS)
    for task in tasks.MIGRATIONS:
        root = write_files(scratch / f"mig-{task['id']}", task["files"])
        with Workspace(root) as ws:  # the baseline: ruff's pyupgrade fixes only
            run_ruff_upgrades(ws, "py312")
            ruff_left = _deprecated_left(ws) + _old_typing(ws)
            ruff_pass = sandbox.run_tests(ws.staging).passed
        started = time.monotonic()
        with Workspace(root) as ws:
            result = migrate(ws, sandbox, "to Python 3.12")
            left = _deprecated_left(ws) + _old_typing(ws)
        rows.append(
            {"id": task["id"], "status": result.status, "before": result.before.outcome,
             "after": result.after.outcome if result.after else None, "left": left,
             "migrated": result.status == "migrated" and left == 0,
             "ruff_only_left": ruff_left, "ruff_only_migrated": ruff_pass and ruff_left == 0,
             "wall_s": round(time.monotonic() - started, 2)}
        )  # fmt: skip
    return rows


_OLD_TYPING = re.compile(r"\b(List|Dict|Optional|Union)\[")


def _old_typing(ws: Workspace) -> int:
    return sum(len(_OLD_TYPING.findall(ws.read(rel))) for rel in ws.files(".py"))


def bench_hostile(tasks: Any, scratch: Path) -> list[dict]:
    home = Path(tempfile.mkdtemp(prefix="bench-home-", dir="/var/tmp"))
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(f"[default]\naws_secret_access_key = {SECRET}\n")
    saved = {k: os.environ.get(k) for k in ("HOME", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN")}
    os.environ.update(HOME=str(home), AWS_SECRET_ACCESS_KEY=SECRET, GITHUB_TOKEN=SECRET)
    rows = []
    try:
        for task in tasks.HOSTILE:
            root = write_files(scratch / f"hostile-{task['id']}", {"test_hostile.py": task["test"]})
            run = Sandbox(HOSTILE_LIMITS).run_tests(root)
            expect = task["expect"]
            ok = all(limit in run.limits_hit for limit in expect.get("limits", []))
            ok = ok and run.outcome == expect.get("outcome", run.outcome)
            ok = ok and SECRET not in run.output and not Path("/usr/strata-bench-escape.txt").exists()
            rows.append(
                {"id": task["id"], "outcome": run.outcome, "limits_hit": run.limits_hit, "contained": ok,
                 "isolation": run.isolation, "wall_s": run.duration_s}
            )  # fmt: skip
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(home, ignore_errors=True)
    return rows


def _oracle_answer(question: dict):
    def answer(prompt: str) -> str:
        if question["file"] is None:
            return NOT_ANSWERED
        match = re.search(r"\[(\d+)\] \(" + re.escape(question["file"]) + r"\)", prompt)
        if not match:
            return NOT_ANSWERED
        return f"{', '.join(question['words'])} [{match.group(1)}]"

    return answer


def bench_docs(
    tasks: Any, settings: CodeSettings, oracle: OracleProvider, scratch: Path, limit: int | None = None
) -> list[dict]:
    root = scratch / f"docs-{settings.model_id[:6]}"
    shutil.copytree(DATA / "docs", root)
    rows = []
    # With a limit, keep answerable and unanswerable questions both in the sample.
    questions = tasks.QUESTIONS if limit is None else [*tasks.QUESTIONS[: limit - 1], tasks.QUESTIONS[-1]]
    for question in questions:
        oracle.answer = _oracle_answer(question)
        started = time.monotonic()
        report = run_ask(settings, root, question["q"])
        cited = [c["path"] for c in report.citations]
        answer = (report.answer or "").lower()
        if question["file"] is None:  # right only when it says so, citing nothing
            correct = cite_ok = report.status == "not_in_docs" and not cited
        else:
            correct = report.status == "answered" and all(w.lower() in answer for w in question["words"])
            cite_ok = question["file"] in cited
        rows.append(
            {"q": question["q"], "status": report.status, "cited": cited, "answer_ok": correct,
             "citation_ok": cite_ok, "citations_exist": all((root / p).is_file() for p in cited),
             "wall_s": round(time.monotonic() - started, 2)}
        )  # fmt: skip
    return rows


def _rate(rows: list[dict], key: str) -> str:
    hits = sum(1 for r in rows if r[key])
    return f"{hits}/{len(rows)} ({100 * hits / max(len(rows), 1):.0f}%)"


def _wall(rows: list[dict]) -> str:
    walls = [r["wall_s"] for r in rows]
    return f"{statistics.median(walls):.2f} / {max(walls):.2f}" if walls else "-"


def run_model(
    label: str,
    settings: CodeSettings,
    tasks: Any,
    oracle: OracleProvider,
    scratch: Path,
    limit: int | None = None,
) -> dict:
    started = time.monotonic()
    result = {
        "fixes": bench_fixes(tasks, settings, oracle, scratch, limit),
        "generation": bench_generation(tasks, settings, oracle, scratch, limit),
        "docs": bench_docs(tasks, settings, oracle, scratch, limit),
    }
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(f"{label}: done in {result['wall_s']} s", flush=True)
    return result


def capped_note(models: dict) -> str | None:
    """How many of a model's tasks ended on the per-call time cap (no answer came back)."""
    notes = []
    for label, res in models.items():
        tasks = [*res["fixes"], *res["generation"], *res["docs"]]
        capped = [r for r in tasks if r.get("model_calls") == 0 or r["status"] == "model_error"]
        if capped and label != "scripted":
            notes.append(
                f"{label}: {len(capped)} of {len(tasks)} tasks got no model answer within the 120 s "
                "per-call cap (model_error); on this shared, loaded machine the row measures the machine "
                "as much as the model"
            )
    return "; ".join(notes) or None


def render(data: dict) -> str:
    meta = data["meta"]
    lines = [
        "# Coding companion: scripted vs embedded model on the task set (bench/data/coding)",
        "",
        f"- when: {meta['when']}  machine: {meta['machine']}  load average (1 min) before/after: "
        f"{meta['load_before']:.2f} / {meta['load_after']:.2f} (other jobs share these cores); "
        f"bench wall time {meta['wall_s']} s",
        f"- sandbox: {meta['isolation']}; embedded model: SmolLM2-135M-Instruct Q4_1 (llama.cpp), "
        f"temperature 0, {meta['embedded_attempts']} attempt(s) of at most {meta['embedded_tokens']} tokens "
        f"per task, {meta['embedded_tasks']} task(s) per category (120 s per model call); scripted: an "
        "oracle returning each task's known patch (3 attempts), every task",
        "- false success claim: the companion reported fixed/generated, but an independent sandboxed "
        "re-run of the written workspace fails (goal 0)",
        "",
        "| model | fix pass | fix false claims | generation (visible tests) | generation (hidden tests) "
        "| gen false claims | docs answers | docs citations | fix wall s (median / max) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, res in data["models"].items():
        fixes, gen, docs = res["fixes"], res["generation"], res["docs"]
        lines.append(
            f"| {label} | {_rate(fixes, 'verified')} | {sum(r['false_claim'] for r in fixes)} "
            f"| {_rate(gen, 'verified')} | {_rate(gen, 'hidden_pass')} "
            f"| {sum(r['false_claim'] for r in gen)} "
            f"| {_rate(docs, 'answer_ok')} | {_rate(docs, 'citation_ok')} | {_wall(fixes)} |"
        )
    mig, hostile = data["migrations"], data["hostile"]
    lines += [
        "",
        "Migrations (deterministic; no model): migrated = tests pass after and no deprecated use is left.",
        "",
        "| path | migrated | deprecated uses left |",
        "|---|---|---|",
        f"| codemods + ruff UP (strata) | {_rate(mig, 'migrated')} | {sum(r['left'] for r in mig)} |",
        f"| ruff UP alone (baseline) | {_rate(mig, 'ruff_only_migrated')} "
        f"| {sum(r['ruff_only_left'] for r in mig)} |",
        "",
        "| migration | before | after | status | left (strata / ruff alone) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['id']} | {r['before']} | {r['after']} | {r['status']} | {r['left']} / {r['ruff_only_left']} |"
        for r in mig
    ]
    lines += [
        "",
        f"Sandbox containment of hostile snippets: {_rate(hostile, 'contained')} (goal: all)",
        "",
        "| snippet | outcome | limits hit | contained | wall s |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['id']} | {r['outcome']} | {', '.join(r['limits_hit']) or '-'} "
        f"| {r['contained']} | {r['wall_s']} |"
        for r in hostile
    ]
    lines += ["", "Per task (fix / generation / docs), by model:", ""]
    for label, res in data["models"].items():
        lines.append(
            f"- {label}: fixes " + ", ".join(f"{r['id']}={r['status']}" for r in res["fixes"])
            + "; generation "
            + ", ".join(f"{r['id']}={r['status']}/hidden {'ok' if r['hidden_pass'] else 'fail'}"
                                          for r in res["generation"])
            + "; docs " + ", ".join(r["status"] for r in res["docs"])
        )  # fmt: skip
    lines += ["", "Notes:", *[f"- {n}" for n in data["notes"]]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--embedded-attempts", type=int, default=1)
    parser.add_argument("--embedded-tokens", type=int, default=128)
    # The embedded model takes minutes per task on a loaded 2-core machine: a sample by default.
    parser.add_argument("--embedded-tasks", type=int, default=2, help="tasks per category (0: all)")
    args = parser.parse_args()
    started, load_before = time.monotonic(), os.getloadavg()[0]
    tasks = load_tasks()
    oracle = OracleProvider()
    with tempfile.TemporaryDirectory(prefix="bench-coding-") as tmp:
        scratch = Path(tmp)
        url, key, server = start_gateway(scratch / "gateway", oracle)
        try:
            base = {"url": url, "api_key": key, "limits": TASK_LIMITS, "embedding_model": EMBED}
            models = {
                "scripted": run_model(
                    "scripted", CodeSettings(model_id=ORACLE, **base), tasks, oracle, scratch
                )
            }
            if not args.skip_embedded:
                local = CodeSettings(
                    model_id=LOCAL,
                    attempts=args.embedded_attempts,
                    max_tokens=args.embedded_tokens,
                    timeout_s=120,
                    **base,
                )
                sample = args.embedded_tasks or None
                models["embedded"] = run_model("embedded", local, tasks, oracle, scratch, sample)
            migrations = bench_migrations(tasks, scratch)
            hostile = bench_hostile(tasks, scratch)
        finally:
            server.should_exit = True
    data = {
        "meta": {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "wall_s": round(time.monotonic() - started, 1),
            "isolation": Sandbox().isolation,
            "embedded_attempts": args.embedded_attempts,
            "embedded_tokens": args.embedded_tokens,
            "embedded_tasks": args.embedded_tasks or "all",
        },
        "models": models,
        "migrations": migrations,
        "hostile": hostile,
        "notes": [
            "hostile snippets run under bubblewrap only: running a fork bomb or a disk filler in the weaker "
            "fallback on a shared machine is what the sandbox exists to prevent, so it has no baseline row",
            "the scripted model proves the pipeline (patch parsing, sandboxed verification, write-back, "
            "retrieval and citations); the embedded 135M model measures what a tiny local model achieves",
            "docs citations for the scripted model = retrieval placing the answering file in the top 4",
        ],
    }
    note = capped_note(models)
    data["notes"] += [note] if note else []
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "coding.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / "coding.md").write_text(render(data))
    print(render(data))


if __name__ == "__main__":
    main()
