"""Bench: the coding companion on its task set (bench/data/coding), scripted model vs embedded model.

Runs a real gateway in-process on loopback (the embedded SmolLM2 via llama.cpp, MiniLM embeddings,
and a scripted "oracle" model that returns each task's known patch, which proves the pipeline) and
drives the companion's own functions (the ones ``strata code`` calls) through the SDK:

- fix / generation pass rates, and false success claims: the companion said "fixed"/"generated"
  but an independent sandboxed re-run of the written workspace fails (goal 0 for every model);
  generation is scored on hidden tests the model never saw;
- migrations: codemods + ruff, then the model for what they leave (``strata code migrate``) vs
  ruff's pyupgrade fixes alone (the baseline), with the tests before and after;
- sandbox containment of hostile snippets (goal: all);
- docs questions: answer and citation accuracy, and "not in docs" for questions the docs don't
  answer;
- wall time per task. Writes bench/results/coding.md and coding.json with the load average.

    timeout 2400 .venv/bin/python bench/coding.py [--skip-embedded] [--embedded-budget-s 1800]
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
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root: the tests' gateway helpers

from applications.coding.ask import NOT_ANSWERED, run_ask
from applications.coding.companion import CodeSettings, run_fix, run_generate, run_migrate
from applications.coding.migrate import deprecated_uses, run_ruff_upgrades
from applications.coding.sandbox import Sandbox, SandboxLimits
from applications.coding.workspace import Workspace
from model_layer.serving import uvicorn_config
from model_layer.types import BlockDelta, BlockStop, ChatRequest, MessageStart, MessageStop, Metadata, Usage
from tests.model_layer.gateway_harness import build_gateway, local_minilm

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


def load_module(name: str, path: Path) -> Any:
    """A bench file by path (bench/ is not a package; kept off sys.path so nothing is shadowed)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tasks() -> Any:
    return load_module("coding_tasks", DATA / "tasks.py")


_RENDER = load_module("coding_render", HERE / "coding_render.py")
capped_note, render = _RENDER.capped_note, _RENDER.render


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
            # What the default config declares: llama.cpp's 8,192-token KV cache over its 4 slots.
            {"id": LOCAL, "provider": "local", "upstream": "smollm2-135m-instruct", "context_window": 2048},
            local_minilm(EMBED),
        ],
        "retry": {"max_attempts": 1},
    }


def start_gateway(home: Path, oracle: OracleProvider) -> tuple[str, str, uvicorn.Server]:
    gw = build_gateway(home, gateway_config(), providers={"oracle": oracle}, tenant="bench")
    app, settings, key = gw.app, gw.settings, gw.keys.api_key
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


def fix_task(task: dict, settings: CodeSettings, oracle: OracleProvider, scratch: Path) -> dict:
    root = write_files(scratch / f"fix-{settings.model_id[:6]}-{task['id']}", task["files"])
    oracle.answer = task["patch"]
    started = time.monotonic()
    report = run_fix(settings, root, "The tests fail: find the bug and fix it.")
    wall = time.monotonic() - started
    claimed = report.status == "fixed"
    verified = independent_run(root)
    return {
        "id": task["id"], "class": task["class"], "status": report.status, "claimed": claimed,
        "verified": verified, "false_claim": claimed and not verified,
        "model_calls": len(report.model_calls), "wall_s": round(wall, 2),
    }  # fmt: skip


def generation_task(task: dict, settings: CodeSettings, oracle: OracleProvider, scratch: Path) -> dict:
    root = write_files(scratch / f"gen-{settings.model_id[:6]}-{task['id']}", task["files"])
    oracle.answer = task["patch"]
    started = time.monotonic()
    report = run_generate(settings, root, "Implement the function in mod.py as its docstring says.")
    wall = time.monotonic() - started
    claimed = report.status == "generated"
    verified = independent_run(root)  # the visible example test, re-run
    # Only now, after the command returned, do the hidden tests exist (test_code_hidden_tests.py).
    (root / "test_hidden.py").write_text(task["hidden"])
    hidden = independent_run(root)
    return {
        "id": task["id"], "status": report.status, "claimed": claimed, "verified": verified,
        "hidden_pass": hidden, "false_claim": claimed and not verified,
        "model_calls": len(report.model_calls), "wall_s": round(wall, 2),
    }  # fmt: skip


def bench_generation(
    tasks: Any, settings: CodeSettings, oracle: Any, scratch: Path, limit: int | None = None
) -> list[dict]:
    return [generation_task(task, settings, oracle, scratch) for task in tasks.GENERATION[:limit]]


def _deprecated_left(ws: Workspace) -> int:
    return len(deprecated_uses(ws)) + len(_OLD_TYPING.findall("".join(ws.read(r) for r in ws.files(".py"))))


_OLD_TYPING = re.compile(r"\b(List|Dict|Optional|Union)\[")


def ruff_baseline(tasks: Any, scratch: Path) -> dict[str, dict]:
    """The baseline: ruff's pyupgrade fixes alone, per migration task."""
    rows = {}
    for task in tasks.MIGRATIONS:
        root = write_files(scratch / f"ruff-{task['id']}", task["files"])
        with Workspace(root) as ws:
            run_ruff_upgrades(ws, "py312")
            left = _deprecated_left(ws)
            passed = Sandbox(TASK_LIMITS).run_tests(ws.staging).passed
        rows[task["id"]] = {"left": left, "migrated": passed and left == 0}
    return rows


def migration_task(task: dict, settings: CodeSettings, oracle: OracleProvider, scratch: Path) -> dict:
    """``strata code migrate``: rewriters, then the model for what they leave; judged on the folder."""
    root = write_files(scratch / f"mig-{settings.model_id[:6]}-{task['id']}", task["files"])
    oracle.answer = task.get("patch", "(no patch: the rewriters should have done it all)")
    started = time.monotonic()
    report = run_migrate(settings, root, "to Python 3.12")
    wall = time.monotonic() - started
    with Workspace(root) as ws:  # what the user's folder holds now
        left = _deprecated_left(ws)
    verified = independent_run(root)
    claimed = report.status == "migrated"
    return {
        "id": task["id"], "status": report.status, "runs": [r.outcome for r in report.runs],
        "left": left, "verified": verified, "migrated": claimed and verified and left == 0,
        "false_claim": claimed and not (verified and left == 0), "needs_model": "patch" in task,
        "model_calls": len(report.model_calls), "wall_s": round(wall, 2),
    }  # fmt: skip


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


def docs_task(question: dict, settings: CodeSettings, oracle: OracleProvider, root: Path) -> dict:
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
    return {
        "q": question["q"], "status": report.status, "cited": cited, "answer_ok": correct,
        "citation_ok": cite_ok, "citations_exist": all((root / p).is_file() for p in cited),
        "model_calls": len(report.model_calls), "wall_s": round(time.monotonic() - started, 2),
    }  # fmt: skip


CATEGORIES = ("fixes", "generation", "migrations", "docs")


def task_queues(label: str, tasks: Any, scratch: Path, docs_root: Path, limit: int | None) -> dict:
    """Each category's tasks in the order they run. The embedded model gets only the migrations
    that need a model (the others are the rewriters' work, the same for every model)."""
    migrations = [t for t in tasks.MIGRATIONS if label == "scripted" or "patch" in t]
    # An unanswerable question early, so a budget-cut run still measures "not in docs".
    questions = [tasks.QUESTIONS[0], tasks.QUESTIONS[-1], *tasks.QUESTIONS[1:-1]]
    return {
        "fixes": [(fix_task, t, scratch) for t in tasks.FIXES[:limit]],
        "generation": [(generation_task, t, scratch) for t in tasks.GENERATION[:limit]],
        "migrations": [(migration_task, t, scratch) for t in migrations[:limit]],
        "docs": [(docs_task, q, docs_root) for q in questions[:limit]],
    }


def run_model(
    label: str, settings: CodeSettings, tasks: Any, oracle: OracleProvider, scratch: Path,
    limit: int | None = None, deadline: float | None = None,
) -> dict:  # fmt: skip
    """Round-robin over the categories, so a budget cut leaves every category measured."""
    started = time.monotonic()
    docs_root = scratch / f"docs-{settings.model_id[:6]}"
    shutil.copytree(DATA / "docs", docs_root)
    queues = task_queues(label, tasks, scratch, docs_root, limit)
    result: dict[str, Any] = {name: [] for name in CATEGORIES}
    skipped = dict.fromkeys(CATEGORIES, 0)
    for index in range(max(len(queue) for queue in queues.values())):
        for name in CATEGORIES:
            if index >= len(queues[name]):
                continue
            if deadline is not None and time.monotonic() > deadline:
                skipped[name] += 1
                continue
            run, item, where = queues[name][index]
            row = run(item, settings, oracle, where)
            result[name].append(row)
            print(f"{label} {name} {index}: {row['status']} in {row['wall_s']} s", flush=True)
    result["skipped"] = skipped
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(f"{label}: done in {result['wall_s']} s", flush=True)
    return result


NOTES = (
    "hostile snippets run under bubblewrap only: running a fork bomb or a disk filler in the weaker "
    "fallback on a shared machine is what the sandbox exists to prevent, so it has no baseline row",
    "the scripted model proves the pipeline (patch parsing, sandboxed verification, write-back, "
    "the migration hand-off, retrieval and citations); the embedded 135M model measures what a "
    "tiny local model achieves",
    "docs citations for the scripted model = retrieval placing the answering file in the top 4",
    "generation is graded on hidden tests written only after the command returned; "
    "tests/applications/coding/test_code_hidden_tests.py checks no prompt ever contains them",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--embedded-attempts", type=int, default=1)
    parser.add_argument("--embedded-tokens", type=int, default=128)
    parser.add_argument("--embedded-tasks", type=int, default=0, help="tasks per category (0: all)")
    # The embedded model takes from seconds to minutes a task on the shared 2-core machine: it runs
    # tasks until this budget is spent, and the results say how many were not started.
    parser.add_argument("--embedded-budget-s", type=int, default=1800)
    args = parser.parse_args()
    started, load_before = time.monotonic(), os.getloadavg()[0]
    tasks = load_tasks()
    oracle = OracleProvider()
    with tempfile.TemporaryDirectory(prefix="bench-coding-") as tmp:
        scratch = Path(tmp)
        url, key, server = start_gateway(scratch / "gateway", oracle)
        try:
            base = {"url": url, "api_key": key, "limits": TASK_LIMITS, "embedding_model": EMBED}
            scripted = CodeSettings(model_id=ORACLE, **base)
            models = {"scripted": run_model("scripted", scripted, tasks, oracle, scratch)}
            baseline = ruff_baseline(tasks, scratch)
            hostile = bench_hostile(tasks, scratch)
            if not args.skip_embedded:
                local = CodeSettings(
                    model_id=LOCAL, attempts=args.embedded_attempts, max_tokens=args.embedded_tokens,
                    timeout_s=120, **base,
                )  # fmt: skip
                deadline = time.monotonic() + args.embedded_budget_s
                models["embedded"] = run_model(
                    "embedded", local, tasks, oracle, scratch, args.embedded_tasks or None, deadline
                )
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
            "embedded_budget_s": args.embedded_budget_s,
        },
        "models": models,
        "ruff_baseline": baseline,
        "hostile": hostile,
        "notes": list(NOTES),
    }
    note = capped_note(models)
    data["notes"] += [note] if note else []
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "coding.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / "coding.md").write_text(render(data))
    print(render(data))


if __name__ == "__main__":
    main()
