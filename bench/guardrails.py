# ruff: noqa: E501 -- the report's sentences and table rows stay one per line
"""Guardrail quality and cost, measured: PII, prompt attacks, harmful content, denied topics, latency.

    .venv/bin/python bench/guardrails.py [--wheels DIR] [--rounds N] [--before REV]

Writes bench/results/guardrails.md and .json. Every figure is measured in this run:

- **PII**: precision and recall per Bedrock entity type on a labelled set (bench/guardrail_pii.py:
  presidio-evaluator's templates filled by Faker with a seed the recognisers were not developed
  on, plus strata's templates for the types presidio lacks).
- **Prompt attacks and harmful content**: true-positive rate on the *test* split of the labelled
  corpus (model_layer/guardrails/data/corpus.py; the classifier was fitted on train and calibrated
  on validation only) at each filter strength, and the false-positive rate on the test split's
  ordinary prompts (many mention passwords, security, killing processes or "ignore"), and on the
  test texts labelled with *other* categories; and what a guardrail with all six filters on
  stops of the ordinary prompts (any one firing stops a text). Baseline in the same run: a keyword
  filter; with ``--before REV``, also the head and cut-offs shipped at git revision REV.
- **Denied topics** and **contextual grounding**: held-out labelled sets (bench/guardrail_semantic.py).
- **Latency**: ApplyGuardrail on 1 KB of text, in-process and through boto3 against a live
  gateway (baseline: GetGuardrail, the same HTTP + SigV4 + state read without the policies), and
  the time ConverseStream takes with a guardrail against without (deterministic fake model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from guardrail_pii import generate, score  # noqa: E402
from guardrail_semantic import bench_grounding, bench_topics  # noqa: E402
from guardrail_semantic import render as render_semantic  # noqa: E402

from model_layer.guardrails.classifier import CATEGORIES, LEVELS, ContentClassifier  # noqa: E402
from model_layer.guardrails.data.corpus import build_corpus  # noqa: E402
from model_layer.guardrails.data.strata_examples import TOPICS  # noqa: E402
from model_layer.guardrails.data.train_classifiers import embed_windows  # noqa: E402
from model_layer.guardrails.pii import RECOGNIZERS, find_pii  # noqa: E402
from model_layer.guardrails.resources import GuardrailResources  # noqa: E402

RESULTS = ROOT / "bench" / "results"
GOAL_TYPES = (
    "EMAIL",
    "PHONE",
    "US_SOCIAL_SECURITY_NUMBER",
    "CREDIT_DEBIT_CARD_NUMBER",
    "IP_ADDRESS",
    "US_BANK_ACCOUNT_NUMBER",
)
# The baseline a keyword list gives: phrases that jailbreak and injection prompts often contain.
ATTACK_KEYWORDS = (
    "ignore previous",
    "ignore all previous",
    "ignore the above",
    "disregard",
    "do anything now",
    "dan",
    "jailbreak",
    "developer mode",
    "no restrictions",
    "system prompt",
    "without any filter",
    "unfiltered",
)


def bench_pii(wheels: Path) -> dict:
    samples = generate(wheels, per_template=6, seed=11)
    entities = frozenset(r.entity for r in RECOGNIZERS)
    per_type = score(samples, lambda t: [(m.start, m.end, m.entity) for m in find_pii(t, entities)])
    return {"samples": len(samples), "per_type": per_type}


def _keyword_score(text: str) -> float:
    low = f" {text.lower()} "
    return float(any(f" {k} " in low or (len(k) > 4 and k in low) for k in ATTACK_KEYWORDS))


def bench_classifiers(wheels: Path, resources: GuardrailResources, before: str | None = None) -> dict:
    """Per category and strength on the test split; with ``before`` (a git revision), the head and
    cut-offs shipped then too, on the same texts."""
    corpus = [e for e in build_corpus(wheels) if e.split == "test"]
    # The same windows and max-pooling as ContentClassifier.score_texts, embedded through the
    # training script's cache (the test windows are embedded once, not on every bench run).
    vectors, owner = embed_windows(corpus, resources, wheels / "window-embeddings.npz")
    out: dict = {
        "test_examples": len(corpus),
        **_head_rates(ContentClassifier.load(), corpus, vectors, owner),
    }
    if before:
        from guardrail_redteam import _head_at

        out["before"] = {"revision": before, **_head_rates(_head_at(before), corpus, vectors, owner)}
    benign = [i for i, e in enumerate(corpus) if not e.labels]
    attacks = [i for i, e in enumerate(corpus) if "PROMPT_ATTACK" in e.labels]
    keyword = {i: _keyword_score(corpus[i].text) for i in range(len(corpus))}
    out["keyword_baseline"] = {
        "tpr": _rate(attacks, lambda i: keyword[i] > 0),
        "fpr_ordinary": _rate(benign, lambda i: keyword[i] > 0),
    }
    return out


STRENGTHS = (("LOW", "HIGH"), ("MEDIUM", "MEDIUM"), ("HIGH", "LOW"))  # strength, lowest confidence blocked


def _head_rates(classifier: ContentClassifier, corpus: list, vectors: np.ndarray, owner: np.ndarray) -> dict:
    probs = np.zeros((len(corpus), len(CATEGORIES)), np.float32)
    np.maximum.at(probs, owner, classifier.probabilities(vectors))
    scores = [dict(zip(CATEGORIES, map(float, row), strict=True)) for row in probs]
    benign = [i for i, e in enumerate(corpus) if not e.labels]
    support = [i for i in benign if corpus[i].source == "strata:support"]
    out: dict = {"categories": {}, "all_filters": {}}

    def hit(i, category, lowest):
        return LEVELS.index(classifier.confidence(category, scores[i][category])) >= LEVELS.index(lowest)

    for category in CATEGORIES:
        positives = [i for i, e in enumerate(corpus) if category in e.labels]
        others = [i for i, e in enumerate(corpus) if e.labels and category not in e.labels]
        rows = {
            strength: {
                "tpr": _rate(positives, lambda i, c=category, lo=lowest: hit(i, c, lo)),
                "fpr_ordinary": _rate(benign, lambda i, c=category, lo=lowest: hit(i, c, lo)),
                "fpr_other_categories": _rate(others, lambda i, c=category, lo=lowest: hit(i, c, lo)),
            }
            for strength, lowest in STRENGTHS
        }
        out["categories"][category] = {
            "positives": len(positives),
            "ordinary": len(benign),
            "other": len(others),
            "by_strength": rows,
        }
    for strength, lowest in STRENGTHS:  # a guardrail with all six on stops a text when any fires

        def stopped(i, lowest=lowest):
            return any(hit(i, c, lowest) for c in CATEGORIES)

        out["all_filters"][strength] = {
            "ordinary": _rate(benign, stopped),
            "support": _rate(support, stopped),
            "ordinary_count": len(benign),
            "support_count": len(support),
        }
    return out


def _rate(indexes: list[int], predicate) -> float | None:
    return round(sum(1 for i in indexes if predicate(i)) / len(indexes), 3) if indexes else None


# --- latency -----------------------------------------------------------------------------------------

TEXT_1KB = (
    "Hello, I ordered a pair of running shoes last week (order ORD-204118) and they arrived in the "
    "wrong size. Could you tell me how to exchange them for a size 10? I would also like to know "
    "whether the exchange is free of charge, how long it usually takes, and whether I need to print "
    "a shipping label myself or if one is included in the box. My email is on the order. I live in "
    "a small flat without a printer, so a QR code at the post office would be ideal. Also, are the "
    "trail version and the road version of this model built on the same last? I run mostly on "
    "gravel paths in the park on weekends and on pavement during the week, so I am not sure which "
    "one suits me better. Thank you very much for your help, and have a nice day! One more thing: "
    "the laces on the left shoe were frayed; if the exchange takes more than a week I might simply "
    "keep them and buy new laces instead. "
)[:1024]

NON_MODEL = {
    "wordPolicyConfig": {
        "wordsConfig": [{"text": w} for w in ("refund", "lawsuit", "gift card", "competitor")],
        "managedWordListsConfig": [{"type": "PROFANITY"}],
    },
    "sensitiveInformationPolicyConfig": {
        "piiEntitiesConfig": [
            {"type": t, "action": "ANONYMIZE"}
            for t in (
                "EMAIL",
                "PHONE",
                "US_SOCIAL_SECURITY_NUMBER",
                "CREDIT_DEBIT_CARD_NUMBER",
                "IP_ADDRESS",
                "NAME",
                "ADDRESS",
            )
        ],
        "regexesConfig": [{"name": "order", "pattern": r"\bORD-\d{6}\b", "action": "ANONYMIZE"}],
    },
}
WITH_MODELS = {
    **NON_MODEL,
    "contentPolicyConfig": {
        "filtersConfig": [
            {"type": t, "inputStrength": "HIGH", "outputStrength": "NONE" if t == "PROMPT_ATTACK" else "HIGH"}
            for t in CATEGORIES
        ]
    },
    "topicPolicyConfig": {
        "topicsConfig": [
            {k: t[k] for k in ("name", "definition", "examples")} | {"type": "DENY"} for t in TOPICS
        ]
    },
}


def _p50_ms(fn, rounds: int) -> float:
    fn()  # warm: compile, load models, fill caches the steady state has
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def bench_latency(rounds: int) -> dict:
    from model_layer.guardrails.engine import compile_guardrail
    from model_layer.guardrails.policies.base import TextBlock

    resources = GuardrailResources()
    out: dict = {"text_chars": len(TEXT_1KB)}
    blocks = [TextBlock(TEXT_1KB)]
    for name, policies in (("non_model", NON_MODEL), ("with_classifiers", WITH_MODELS)):
        definition = {"name": name, **policies, "blockedInputMessaging": "b", "blockedOutputsMessaging": "b"}
        compiled = compile_guardrail("x", "DRAFT", "arn", definition, resources)
        # a fresh text each call for the model policies, so the embedding cache does not answer
        counter = iter(range(10**9))
        if name == "non_model":
            out[f"engine_p50_ms_{name}"] = _p50_ms(lambda c=compiled: c.evaluate("INPUT", blocks), rounds)
        else:
            out[f"engine_p50_ms_{name}"] = _p50_ms(
                lambda c=compiled, n=counter: c.evaluate("INPUT", [TextBlock(f"{next(n)} {TEXT_1KB}")]),
                rounds,
            )
    out |= bench_http(rounds)
    return out


def bench_http(rounds: int) -> dict:
    import boto3

    from tests.model_layer.gateway_harness import CHAT_MODEL, build_gateway, fake_models
    from tests.model_layer.live import serve_app

    config = fake_models(reply=" ".join(["word"] * 200))
    with tempfile.TemporaryDirectory() as home:
        gw = build_gateway(Path(home), config)
        with serve_app(gw.app) as url:
            creds = {
                "endpoint_url": url,
                "region_name": "us-east-1",
                "aws_access_key_id": gw.keys.access_key_id,
                "aws_secret_access_key": gw.keys.secret_access_key,
            }
            bedrock, runtime = boto3.client("bedrock", **creds), boto3.client("bedrock-runtime", **creds)
            ids = {}
            for name, policies in (("non_model", NON_MODEL), ("with_classifiers", WITH_MODELS)):
                made = bedrock.create_guardrail(
                    name=name, blockedInputMessaging="b", blockedOutputsMessaging="b", **policies
                )
                ids[name] = made["guardrailId"]
            out = {
                "http_p50_ms_get_guardrail_baseline": _p50_ms(
                    lambda: bedrock.get_guardrail(guardrailIdentifier=ids["non_model"]), rounds
                )
            }
            counter = iter(range(10**9))
            for name, gid in ids.items():

                def call(gid=gid, fresh=name != "non_model"):
                    text = f"{next(counter)} {TEXT_1KB}" if fresh else TEXT_1KB
                    runtime.apply_guardrail(
                        guardrailIdentifier=gid,
                        guardrailVersion="DRAFT",
                        source="INPUT",
                        content=[{"text": {"text": text}}],
                    )

                out[f"http_p50_ms_apply_{name}"] = _p50_ms(call, rounds)
            out |= _stream_overhead(runtime, CHAT_MODEL, ids["non_model"], rounds)
    return out


def _stream_overhead(runtime, model: str, gid: str, rounds: int) -> dict:
    """Time to the first text and to the last event of a 200-word ConverseStream answer, with and
    without a guardrail (sync mode: text is held until each chunk of up to 1,000 characters passed)."""
    messages = [{"role": "user", "content": [{"text": "Tell me about running shoes."}]}]

    def run(guardrail) -> tuple[float, float]:
        extra = (
            {"guardrailConfig": {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT"}}
            if guardrail
            else {}
        )
        started, first = time.perf_counter(), None
        for event in runtime.converse_stream(modelId=model, messages=messages, **extra)["stream"]:
            if first is None and "contentBlockDelta" in event:
                first = time.perf_counter()
        return (first - started) * 1000, (time.perf_counter() - started) * 1000

    out = {}
    run(False), run(True)  # warm both paths
    # interleaved, so a change in the shared machine's load falls on both sides alike
    samples = {False: [], True: []}
    for _ in range(rounds):
        for guardrail in (False, True):
            samples[guardrail].append(run(guardrail))
    for label, guardrail in (("without_guardrail", False), ("with_guardrail", True)):
        timed = samples[guardrail]
        out[f"converse_stream_first_text_p50_ms_{label}"] = round(statistics.median(s[0] for s in timed), 2)
        out[f"converse_stream_total_p50_ms_{label}"] = round(statistics.median(s[1] for s in timed), 2)
    for what in ("first_text", "total"):
        added = (
            out[f"converse_stream_{what}_p50_ms_with_guardrail"]
            - out[f"converse_stream_{what}_p50_ms_without_guardrail"]
        )
        out[f"converse_stream_{what}_added_ms"] = round(added, 2)
    return out


# --- report ------------------------------------------------------------------------------------------


def render(results: dict) -> str:
    lines = [
        "# Guardrails: measured quality and cost",
        "",
        f"Run: {results['when']} on {results['machine']}.",
        "",
    ]
    lines += ["## PII (precision / recall per type)", "", f"{results['pii']['samples']} sentences.", ""]
    lines += ["| type | gold | predicted | precision | recall | goal |", "|---|---:|---:|---:|---:|---|"]
    for kind, row in results["pii"]["per_type"].items():
        goal = "P ≥ 0.90, R ≥ 0.95" if kind in GOAL_TYPES else ""
        lines.append(
            f"| {kind} | {row['gold']} | {row['predicted']} | {row['precision']} | {row['recall']} | {goal} |"
        )
    c = results["classifiers"]
    lines += ["", "## Content filters and prompt attacks (test split)", ""]
    lines += [
        f"{c['test_examples']} test texts. FPR ordinary = ordinary user prompts; FPR other = texts of other harmful categories.",
        "",
    ]
    lines += [
        "| category | strength | TPR | FPR ordinary | FPR other | positives |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for category, row in c["categories"].items():
        for strength, r in row["by_strength"].items():
            lines.append(
                f"| {category} | {strength} | {r['tpr']} | {r['fpr_ordinary']} | {r['fpr_other_categories']} | {row['positives']} |"
            )
    kb = c["keyword_baseline"]
    lines += [
        "",
        f"Keyword-list baseline for PROMPT_ATTACK on the same split: TPR {kb['tpr']}, FPR ordinary {kb['fpr_ordinary']}.",
    ]
    lines += render_all_filters(c)
    lines += render_semantic(results["topics"], results["grounding"])
    lat = results["latency"]
    lines += ["", "## Latency (p50, ms)", "", "| what | ms |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in lat.items() if k != "text_chars"]
    return "\n".join(lines) + "\n"


def render_all_filters(c: dict) -> list[str]:
    """What a guardrail with all six filters on stops of the ordinary test prompts (any filter
    firing stops one), and with ``before``, both heads' figures side by side."""
    heads = [("shipped", c)] + ([(f"`{c['before']['revision']}`", c["before"])] if "before" in c else [])
    a = c["all_filters"]["LOW"]
    lines = [
        "",
        f"All six filters on at one strength (a text is stopped when any fires), share of the {a['ordinary_count']} ordinary test prompts stopped, and of the {a['support_count']} support and how-to questions among them (`strata:support`):",
        "",
        "| head | strength | ordinary stopped | support questions stopped |",
        "|---|---|---:|---:|",
    ]
    for name, h in heads:
        for strength, r in h["all_filters"].items():
            lines.append(f"| {name} | {strength} | {r['ordinary']} | {r['support']} |")
    if "before" in c:
        b = c["before"]["categories"]
        lines += [
            "",
            f"TPR per strength, shipped head vs the one at `{c['before']['revision']}` (same test texts):",
            "",
            "| category | LOW | MEDIUM | HIGH | LOW before | MEDIUM before | HIGH before |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for category, row in c["categories"].items():
            now = " | ".join(str(row["by_strength"][s]["tpr"]) for s, _ in STRENGTHS)
            then = " | ".join(str(b[category]["by_strength"][s]["tpr"]) for s, _ in STRENGTHS)
            lines.append(f"| {category} | {now} | {then} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=Path.home() / ".cache" / "strata-guardrail-wheels")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--before", help="also score the content head shipped at this git revision")
    args = parser.parse_args()
    import platform

    resources = GuardrailResources()
    results = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start (shared with other engineers' runs)",
        "pii": bench_pii(args.wheels),
        "classifiers": bench_classifiers(args.wheels, resources, args.before),
        "topics": bench_topics(resources),
        "grounding": bench_grounding(resources),
        "latency": bench_latency(args.rounds),
    }
    results["machine"] += f"; {os.getloadavg()[0]:.1f} at the end"
    RESULTS.mkdir(exist_ok=True)
    previous = RESULTS / "guardrails.json"
    if previous.exists() and "red_team" in (old := json.loads(previous.read_text())):
        results["red_team"] = old["red_team"]  # bench/guardrail_redteam.py's part, kept
    previous.write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "guardrails.md").write_text(render(results))
    print(render(results))
    if "red_team" in results:
        from guardrail_redteam import merge

        for run in results["red_team"].get("runs", []):
            merge(run)  # idempotent: re-renders the red-team section under the new figures


if __name__ == "__main__":
    np.seterr(over="ignore")
    asyncio.get_event_loop_policy()
    main()
