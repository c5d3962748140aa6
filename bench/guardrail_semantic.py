# ruff: noqa: E501 -- the report's sentences and table rows stay one per line
"""Denied topics and contextual grounding, measured for bench/guardrails.py on held-out labelled sets.

- **Denied topics**: bench/data/guardrails/topics.json (hand-written, held out: see its
  ``about``) plus the second half of strata_examples' on-topic / near-miss prompts (the first half
  calibrated the threshold). Five topics, two of them never seen in calibration. Reported: TPR on
  on-topic prompts and FPR on near misses at the shipped threshold, a threshold sweep, the ROC
  AUC, and in the same run a baseline that embeds only the topic's definition.
- **Grounding and relevance**: the held-out half of model_layer/guardrails/data/grounding_pairs.json
  (sources 5-9; sources 0-4 fitted the score mapping). Reported per threshold: the share of
  ungrounded (irrelevant) answers blocked and of grounded (relevant) answers blocked, per answer
  kind, and in the same run the embeddings-only grounding score (the policy before fact
  coverage), its mapping fitted on the same calibration half.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from model_layer.guardrails.data.calibrate_grounding import SLOPE, load_pairs, midpoint, raw_scores
from model_layer.guardrails.data.strata_examples import TOPICS
from model_layer.guardrails.policies.topics import THRESHOLD, TopicChecker

DATA = Path(__file__).resolve().parent / "data" / "guardrails"
SWEEP = (0.3, 0.35, 0.4, 0.45, 0.5)
GROUNDING_THRESHOLDS = (0.3, 0.5, 0.7)


def _auc(on: np.ndarray, off: np.ndarray) -> float:
    """P(an on-topic prompt outscores a near miss), ties counted half."""
    wins = (on[:, None] > off[None, :]).mean() + 0.5 * (on[:, None] == off[None, :]).mean()
    return round(float(wins), 3)


def _topic_sets() -> list[tuple[dict, list[str], list[str]]]:
    shipped = {t["name"]: t for t in TOPICS}
    out = []
    for held in json.loads((DATA / "topics.json").read_text("utf-8"))["topics"]:
        config = shipped.get(held["name"], held)
        on, off = list(held["on_topic"]), list(held["near_miss"])
        if held["name"] in shipped:  # the half of strata's prompts calibration never saw
            on += config["on_topic"][6:]
            off += config["near_miss"][6:]
        out.append(({k: config[k] for k in ("name", "definition", "examples")}, on, off))
    return out


def bench_topics(resources) -> dict:
    threshold = THRESHOLD()
    scored: dict[str, dict[str, list[float]]] = {
        "policy": {"on": [], "off": []},
        "definition_only": {"on": [], "off": []},
    }
    per_topic = {}
    for config, on, off in _topic_sets():
        for name, cfg in (("policy", config), ("definition_only", {**config, "examples": []})):
            checker = TopicChecker({"topicsConfig": [cfg]}, resources)
            s_on = [float(checker.scores([t])[0]) for t in on]
            s_off = [float(checker.scores([t])[0]) for t in off]
            scored[name]["on"] += s_on
            scored[name]["off"] += s_off
            if name == "policy":
                per_topic[config["name"]] = {
                    "on_topic": len(on),
                    "near_miss": len(off),
                    "tpr": round(float(np.mean(np.array(s_on) >= threshold)), 3),
                    "fpr_near_miss": round(float(np.mean(np.array(s_off) >= threshold)), 3),
                    "calibrated_on_it": config["name"] in {t["name"] for t in TOPICS},
                }
    out: dict = {"threshold": threshold, "per_topic": per_topic}
    for name, s in scored.items():
        on, off = np.array(s["on"]), np.array(s["off"])
        out[name] = {
            "on_topic": len(on),
            "near_miss": len(off),
            "auc": _auc(on, off),
            "sweep": {
                str(t): {"tpr": round(float((on >= t).mean()), 3), "fpr": round(float((off >= t).mean()), 3)}
                for t in sorted({*SWEEP, threshold})
            },
        }
    return out


def _mapped(raw: float, mid: float) -> float:
    return round(1.0 / (1.0 + math.exp(-SLOPE * (raw - mid))), 2)


def bench_grounding(resources) -> dict:
    calibration, test = load_pairs("calibration"), load_pairs("test")
    raw_cal, raw_test = raw_scores(calibration, resources), raw_scores(test, resources)
    # the embeddings-only baseline gets its own mapping, fitted on the same calibration half
    base_mid = midpoint(
        np.array([r["GROUNDING_EMBEDDING_ONLY"] for r in raw_cal]),
        np.array([p.grounded for p in calibration]),
    )
    from model_layer.guardrails.classifier import calibration as shipped

    mids = {kind: shipped()["grounding_logistic"][kind][1] for kind in ("GROUNDING", "RELEVANCE")}
    rows = {
        "GROUNDING": (
            [_mapped(r["GROUNDING"], mids["GROUNDING"]) for r in raw_test],
            [p.grounded for p in test],
        ),
        "GROUNDING_EMBEDDING_ONLY (baseline)": (
            [_mapped(r["GROUNDING_EMBEDDING_ONLY"], base_mid) for r in raw_test],
            [p.grounded for p in test],
        ),
        "RELEVANCE": (
            [_mapped(r["RELEVANCE"], mids["RELEVANCE"]) for r in raw_test],
            [p.relevant for p in test],
        ),
    }
    out: dict = {"test_answers": len(test), "calibration_answers": len(calibration), "filters": {}}
    for name, (scores, positive) in rows.items():
        s, ok = np.array(scores), np.array(positive)
        by_threshold = {
            str(t): {
                "blocked_negatives": round(float((s[~ok] < t).mean()), 3),
                "blocked_positives": round(float((s[ok] < t).mean()), 3),
            }
            for t in GROUNDING_THRESHOLDS
        }
        kinds = sorted({p.kind for p in test})
        blocked_kind = {
            k: round(float(np.mean([sc < 0.5 for sc, p in zip(scores, test, strict=True) if p.kind == k])), 3)
            for k in kinds
        }
        out["filters"][name] = {"by_threshold": by_threshold, "blocked_at_0.5_by_kind": blocked_kind}
    return out


def render(topics: dict, grounding: dict) -> list[str]:
    p, d = topics["policy"], topics["definition_only"]
    lines = ["", "## Denied topics (held-out prompts)", ""]
    lines += [
        f"{p['on_topic']} on-topic prompts and {p['near_miss']} near misses over five topics (bench/data/guardrails/topics.json + the uncalibrated half of strata_examples); the two topics marked new were never used in calibration. Shipped threshold {topics['threshold']}.",
        "",
        "| topic | on-topic | near misses | TPR | FPR near miss | calibrated on it |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, r in topics["per_topic"].items():
        lines.append(
            f"| {name} | {r['on_topic']} | {r['near_miss']} | {r['tpr']} | {r['fpr_near_miss']} | {'yes' if r['calibrated_on_it'] else 'no (new)'} |"
        )
    lines += [
        "",
        f"ROC AUC: policy (definition + name + examples, best piece x prototype) {p['auc']}; baseline embedding only the definition {d['auc']}.",
        "",
    ]
    lines += [
        "| threshold | policy TPR | policy FPR | definition-only TPR | definition-only FPR |",
        "|---:|---:|---:|---:|---:|",
    ]
    for t, r in p["sweep"].items():
        b = d["sweep"][t]
        lines.append(f"| {t} | {r['tpr']} | {r['fpr']} | {b['tpr']} | {b['fpr']} |")
    lines += ["", "## Contextual grounding and relevance (held-out answers)", ""]
    lines += [
        f"{grounding['test_answers']} answers to five sources (model_layer/guardrails/data/grounding_pairs.json, sources 5-9; sources 0-4, {grounding['calibration_answers']} answers, fitted the score mapping). A filter blocks below its threshold. Negatives: ungrounded answers (altered, invented, unrelated) for GROUNDING, irrelevant ones (aside, unrelated) for RELEVANCE.",
        "",
        "| filter | threshold | negatives blocked | positives blocked |",
        "|---|---:|---:|---:|",
    ]
    for name, r in grounding["filters"].items():
        for t, row in r["by_threshold"].items():
            lines.append(f"| {name} | {t} | {row['blocked_negatives']} | {row['blocked_positives']} |")
    kinds = list(next(iter(grounding["filters"].values()))["blocked_at_0.5_by_kind"])
    lines += ["", "Share blocked at threshold 0.5, by answer kind:", ""]
    lines += ["| filter | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
    for name, r in grounding["filters"].items():
        lines.append(f"| {name} | " + " | ".join(str(r["blocked_at_0.5_by_kind"][k]) for k in kinds) + " |")
    return lines
