"""Calibrate contextual grounding and relevance on labelled answer pairs (training and bench only).

    .venv/bin/python -m model_layer.guardrails.data.calibrate_grounding

``grounding_pairs.json`` (hand-written for strata, described in its ``about`` and PROVENANCE.md)
holds ten sources with a query and six answers each, of five kinds; each kind fixes the labels
below. Sources 0-4 are the calibration half: for each filter the logistic's midpoint is the raw
score that best separates the positives (grounded / relevant) from the negatives (Youden's J),
so a score of 0.5 sits on that boundary and Bedrock-style thresholds (block below 0.5, 0.7 …)
mean what they say. Sources 5-9 are never looked at here: bench/guardrails.py reports them.
Updates only ``grounding_logistic`` in ``calibration.json``; train_classifiers.py calls
:func:`fit` too, so a full retrain keeps it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SLOPE = 12.0  # raw scores spread over ~0.4 between clear cases: 0.1 from the midpoint is 0.23/0.77
CALIBRATION_SOURCES = 5
# kind -> (grounded, relevant)
LABELS = {
    "supported": (True, True),
    "altered": (False, True),
    "invented": (False, True),
    "aside": (True, False),
    "unrelated": (False, False),
}


@dataclass(frozen=True)
class Pair:
    source: str
    query: str
    answer: str
    kind: str

    @property
    def grounded(self) -> bool:
        return LABELS[self.kind][0]

    @property
    def relevant(self) -> bool:
        return LABELS[self.kind][1]


def load_pairs(split: str) -> list[Pair]:
    """``split``: "calibration" (sources 0-4) or "test" (sources 5-9)."""
    items = json.loads((HERE / "grounding_pairs.json").read_text("utf-8"))["items"]
    chosen = items[:CALIBRATION_SOURCES] if split == "calibration" else items[CALIBRATION_SOURCES:]
    return [Pair(it["source"], it["query"], a["text"], a["kind"]) for it in chosen for a in it["answers"]]


def raw_scores(pairs: list[Pair], resources) -> list[dict[str, float]]:
    from model_layer.guardrails.policies.grounding import GroundingChecker

    checker = GroundingChecker({"filtersConfig": []}, resources)
    return [checker.raw_scores(p.answer, p.source, p.query) for p in pairs]


def midpoint(scores: np.ndarray, positive: np.ndarray) -> float:
    """The cut-off with the best Youden's J (share of positives passing minus negatives passing)."""
    candidates = np.round(np.arange(0.0, 1.0, 0.01), 2)
    gain = [float((scores[positive] >= c).mean() - (scores[~positive] >= c).mean()) for c in candidates]
    best = max(gain)
    tied = [c for c, g in zip(candidates, gain, strict=True) if g == best]
    return round(float(np.median(tied)), 3)  # the middle of a plateau, not its edge


def fit(resources) -> dict[str, list[float]]:
    pairs = load_pairs("calibration")
    raw = raw_scores(pairs, resources)
    grounded = np.array([p.grounded for p in pairs])
    relevant = np.array([p.relevant for p in pairs])
    return {
        "GROUNDING": [SLOPE, midpoint(np.array([r["GROUNDING"] for r in raw]), grounded)],
        "RELEVANCE": [SLOPE, midpoint(np.array([r["RELEVANCE"] for r in raw]), relevant)],
    }


def main() -> None:
    from model_layer.guardrails.resources import GuardrailResources

    path = HERE / "calibration.json"
    calibration = json.loads(path.read_text("utf-8"))
    calibration["grounding_logistic"] = fit(GuardrailResources())
    path.write_text(json.dumps(calibration, indent=2) + "\n")
    print(json.dumps(calibration["grounding_logistic"]))


if __name__ == "__main__":
    main()
