"""bench/coding.py's results file: the tables of bench/results/coding.md from the run's data."""

from __future__ import annotations

import statistics


def rate(rows: list[dict], key: str) -> str:
    hits = sum(1 for r in rows if r[key])
    return f"{hits}/{len(rows)} ({100 * hits / max(len(rows), 1):.0f}%)" if rows else "-"


def wall(rows: list[dict]) -> str:
    walls = [r["wall_s"] for r in rows]
    return f"{statistics.median(walls):.1f} / {max(walls):.1f}" if walls else "-"


def capped_note(models: dict) -> str | None:
    """How many of a model's tasks got no model answer (the per-call cap, or a rejected call)."""
    notes = []
    for label, res in models.items():
        rows = [*res["fixes"], *res["generation"], *res["docs"]]
        capped = [r for r in rows if r.get("model_calls") == 0 or r["status"] == "model_error"]
        if capped and label != "scripted":
            notes.append(
                f"{label}: {len(capped)} of {len(rows)} fix/generation/docs tasks got no model answer "
                "(model_error, or every call failed: the per-call cap or a rejected request)"
            )
    return "; ".join(notes) or None


def _header(meta: dict) -> list[str]:
    budget = meta["embedded_budget_s"]
    return [
        "# Coding companion: scripted vs embedded model on the task set (bench/data/coding)",
        "",
        f"- when: {meta['when']}  machine: {meta['machine']}  load average (1 min) before/after: "
        f"{meta['load_before']:.2f} / {meta['load_after']:.2f} (other jobs share these cores); "
        f"bench wall time {meta['wall_s']} s",
        f"- sandbox: {meta['isolation']}; embedded model: SmolLM2-135M-Instruct Q4_1 (llama.cpp, the "
        f"default config's 2,048 tokens a request), temperature 0, {meta['embedded_attempts']} attempt(s) "
        f"of at most {meta['embedded_tokens']} tokens per task, {meta['embedded_tasks']} task(s) per "
        f"category, taken round-robin across categories until its {budget} s budget ran out (120 s per "
        "model call); scripted: an oracle returning each task's known patch (3 attempts), every task",
        "- false success claim: the companion reported fixed / generated / migrated, but an independent "
        "sandboxed re-run of the written workspace fails (or, for a migration, a deprecated use is "
        "left) (goal 0)",
        "",
    ]


def _main_table(models: dict) -> list[str]:
    lines = [
        "| model | tasks run (not started: budget) | fix pass | generation (visible / hidden tests) "
        "| migration (model needed / all) | false claims | docs answers | docs citations "
        "| wall s per task (median / max) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, res in models.items():
        fixes, gen, docs, mig = res["fixes"], res["generation"], res["docs"], res["migrations"]
        rows = [*fixes, *gen, *docs, *mig]
        needed = [r for r in mig if r["needs_model"]]
        false = sum(r.get("false_claim", False) for r in rows)
        lines.append(
            f"| {label} | {len(rows)} ({sum(res['skipped'].values())}) | {rate(fixes, 'verified')} "
            f"| {rate(gen, 'verified')} / {rate(gen, 'hidden_pass')} "
            f"| {rate(needed, 'migrated')} / {rate(mig, 'migrated')} | {false} "
            f"| {rate(docs, 'answer_ok')} | {rate(docs, 'citation_ok')} | {wall(rows)} |"
        )
    return lines


def _migrations(data: dict) -> list[str]:
    baseline, scripted = data["ruff_baseline"], data["models"]["scripted"]["migrations"]
    lines = [
        "",
        "Migrations: migrated = the tests pass after (an independent re-run of the user's folder) and "
        "no deprecated use is left. strata = codemods + ruff UP, then the model for what they leave "
        "(`needs model` tasks have no exact rewrite).",
        "",
        "| path | migrated | deprecated uses left |",
        "|---|---|---|",
    ]
    for label, res in data["models"].items():
        mig = res["migrations"]
        lines.append(
            f"| strata, {label} model ({len(mig)} tasks) | {rate(mig, 'migrated')} "
            f"| {sum(r['left'] for r in mig)} |"
        )
    rows = list(baseline.values())
    lines += [
        f"| ruff UP alone (baseline, {len(rows)} tasks) | {rate(rows, 'migrated')} "
        f"| {sum(r['left'] for r in rows)} |",
        "",
        "| migration | needs model | runs (scripted) | status (scripted) | model calls "
        "| left (strata / ruff) | embedded status |",
        "|---|---|---|---|---|---|---|",
    ]
    embedded = {r["id"]: r for r in data["models"].get("embedded", {}).get("migrations", [])}
    for r in scripted:
        other = embedded.get(r["id"])
        lines.append(
            f"| {r['id']} | {'yes' if r['needs_model'] else 'no'} | {' -> '.join(r['runs'])} | {r['status']} "
            f"| {r['model_calls']} | {r['left']} / {baseline[r['id']]['left']} "
            f"| {other['status'] if other else '-'} |"
        )
    return lines


def _hostile(hostile: list[dict]) -> list[str]:
    lines = [
        "",
        f"Sandbox containment of hostile snippets: {rate(hostile, 'contained')} (goal: all)",
        "",
        "| snippet | outcome | limits hit | contained | wall s |",
        "|---|---|---|---|---|",
    ]
    return lines + [
        f"| {r['id']} | {r['outcome']} | {', '.join(r['limits_hit']) or '-'} "
        f"| {r['contained']} | {r['wall_s']} |"
        for r in hostile
    ]


def _per_task(models: dict) -> list[str]:
    lines = ["", "Per task, by model (status, wall s):", ""]
    for label, res in models.items():
        lines.append(
            f"- {label}: fixes " + ", ".join(f"{r['id']}={r['status']} ({r['wall_s']})" for r in res["fixes"])
            + "; generation "
            + ", ".join(
                f"{r['id']}={r['status']}/hidden {'ok' if r['hidden_pass'] else 'fail'} ({r['wall_s']})"
                for r in res["generation"]
            )
            + "; migrations "
            + ", ".join(f"{r['id']}={r['status']} ({r['wall_s']})" for r in res["migrations"])
            + "; docs " + ", ".join(f"{r['status']} ({r['wall_s']})" for r in res["docs"])
        )  # fmt: skip
    return lines


def render(data: dict) -> str:
    lines = [
        *_header(data["meta"]),
        *_main_table(data["models"]),
        *_migrations(data),
        *_hostile(data["hostile"]),
        *_per_task(data["models"]),
        "",
        "Notes:",
        *[f"- {n}" for n in data["notes"]],
    ]
    return "\n".join(lines) + "\n"
