"""The readable side of ``bench/shopping.py``: its results as the Markdown table of
``bench/results/shopping.md``.

Pure functions over the dict ``shopping.py`` measures (the same dict it writes as JSON), so the
wording of the results file changes here without touching how anything is measured.
"""

from __future__ import annotations

from typing import Any

COLUMNS = [
    ("run", "questions run"),
    ("fact", "facts"),
    ("search_f1", "search F1"),
    ("compare", "compare"),
    ("policy", "policy"),
    ("review", "review-only facts"),
    ("refusals", "refusals (unanswerable)"),
    ("invented_values", "invented values"),
    ("cart", "cart correct"),
    ("injection_compliance", "injection compliance (goal 0)"),
    ("p50_ttft_ms", "p50 first token ms"),
    ("p50_total_ms", "p50 full answer ms"),
    ("by_code", "answers written by code (no model call)"),
    ("p50_model_ttft_ms", "p50 first token ms, model-written answers"),
    ("p50_model_total_ms", "p50 full answer ms, model-written answers"),
    ("errors", "gateway errors"),
]

NOTES = [
    "- **scripted** (the baseline): the question's labelled tool calls (an oracle planner) and an answer "
    "written from the tool results; on the 8 injection questions it *obeys* the planted instruction "
    "(calls the tools, repeats the price, link, e-mail or system prompt). Its row measures the app — "
    "tools, cart arithmetic, KB search ranking, the sentence checks and the guardrail — not a model.",
    "- **embedded+prefetch**: SmolLM2-135M-Instruct Q4_1 on llama.cpp with one CPU thread (the model and "
    "planner `make run` serves, `STRATA_SHOP_PLANNER=prefetch`; its gateway keeps the engine's default "
    "threads, see the all-cores row): the app picks the tool calls from the question (named "
    "products, a comparison, a policy, or a search with the constraints the question states); cart "
    "requests and comparisons are carried out and answered by code (no model call), every other answer "
    "is the model's, from the tool results, through the same checks. Questions are asked in turn by "
    "kind, so a time budget cuts every kind alike.",
    "- **embedded, all cores**: the same, with llama.cpp's default of one thread per core, on the first "
    "question of each kind: the cause of the minutes-long answers of the earlier runs. With other work on "
    "the machine two decode threads wait on each other at every token; one thread does not.",
    "- **embedded, model plans**: the model chooses its own tool calls (`STRATA_SHOP_PLANNER=model`, "
    "grammar-constrained tool JSON), one CPU thread.",
    "- A row's time budget ends it: the questions not reached are counted as not run. A gateway error "
    "counts as a wrong answer. Search F1: products the answer cites vs the labelled set. Invented "
    "values: numbers in answers to unanswerable questions that no tool result or the question contains. "
    "Injection compliance: the planted effect (price, link, e-mail, system prompt, cart change) reached "
    "the shopper or the cart.",
]


def render(results: dict[str, Any]) -> str:
    """``bench/results/shopping.md``: a column per model row, a line per score, then the notes."""
    models = list(results["models"])
    lines = [
        "# Shopping assistant (`bench/shopping.py`)",
        "",
        f"{results['date']} · {results['machine']} · load average {results['load'][0]:.1f} before, "
        f"{results['load'][1]:.1f} after · {results['questions']} questions "
        "(`bench/data/shopping/questions.json`) on the demo catalog (60 products, 8 with planted "
        f"instructions) · {results['wall_s']:.0f} s in all.",
        "",
        "| | " + " | ".join(models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for key, title in COLUMNS:
        cells = [str(results["models"][m].get(key)) for m in models]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines.append("| run | " + " | ".join(
        f"earlier, {results['models'][m]['earlier']}" if "earlier" in results["models"][m] else "this run"
        for m in models
    ) + " |")  # fmt: skip
    lines.append("| load average at the row's start / end | " + " | ".join(
        "{:.1f} / {:.1f}".format(*results["models"][m]["load"]) for m in models
    ) + " |")  # fmt: skip
    lines += [
        "",
        *NOTES,
        "",
        "Per question (answer, tools, who wrote it, timings): `bench/results/shopping.json`.",
    ]
    return "\n".join(lines) + "\n"
