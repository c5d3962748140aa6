"""Denied topics: a topic's name, definition and examples matched semantically (MiniLM embeddings).

Each topic is embedded once per guardrail version as several prototypes (the definition, "name:
definition", each example). A text is split into sentences plus the whole text (in windows);
its score for a topic is the highest cosine similarity between any piece and any prototype, and
the topic is detected at or above :data:`THRESHOLD`, calibrated on labelled positive and
near-miss negative prompts (``model_layer/guardrails/data/train_classifiers.py``, figures in
bench/results/guardrails.md). Short pieces (under three words) are not scored on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from model_layer.guardrails.classifier import calibration
from model_layer.guardrails.config import effective
from model_layer.guardrails.policies.base import CheckResult, Finding, Source, TextBlock, text_units
from model_layer.guardrails.text import sentences, windows


def THRESHOLD() -> float:
    return float(calibration().get("topic_threshold", 0.5))


def pieces(text: str) -> list[str]:
    found = [s for s in sentences(text) if len(s.split()) >= 3]
    return list(dict.fromkeys([*windows(text), *found[:64]]))


class TopicChecker:
    def __init__(self, config: dict[str, Any], resources: Any):
        self._topics = config["topicsConfig"]
        self._resources = resources
        prototypes, owners = [], []
        for i, t in enumerate(self._topics):
            for text in (t["definition"], f"{t['name']}: {t['definition']}", *(t.get("examples") or [])):
                prototypes.append(text)
                owners.append(i)
        self._owners = np.array(owners)
        self._vectors = resources.embed(prototypes)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Per topic, the highest similarity of any piece of ``texts``."""
        chunks = [p for t in texts for p in pieces(t)]
        best = np.zeros(len(self._topics), dtype=np.float32)
        if not chunks:
            return best
        sims = self._resources.embed(chunks) @ self._vectors.T  # pieces x prototypes
        per_proto = sims.max(axis=0)
        for i in range(len(self._topics)):
            best[i] = per_proto[self._owners == i].max()
        return best

    def check(self, source: Source, blocks: Sequence[TextBlock]) -> CheckResult:
        guarded = [b.text for b in blocks if b.guarded]
        result = CheckResult(units={"topicPolicyUnits": text_units(guarded)})
        active = [(i, t, *effective(t, source)) for i, t in enumerate(self._topics)]
        if not guarded or not any(enabled for _, _, enabled, _ in active):
            return result
        scores, threshold = self.scores(guarded), THRESHOLD()
        for i, topic, enabled, action in active:
            if not enabled:
                continue
            detected = bool(scores[i] >= threshold)
            blocked = detected and action == "BLOCK"
            entry = {
                "name": topic["name"],
                "type": "DENY",
                "action": "BLOCKED" if blocked else "NONE",
                "detected": detected,
            }
            result.findings.append(
                Finding("topics", entry, intervenes=blocked, blocks=blocked, detected=detected)
            )
        return result


class TopicPolicy:
    config_member: ClassVar[str] = "topicPolicyConfig"
    assessment_key: ClassVar[str] = "topicPolicy"
    groups: ClassVar[tuple[str, ...]] = ("topics",)

    def build(self, config: dict[str, Any], resources: Any) -> TopicChecker:
        return TopicChecker(config, resources)


PLUGIN = TopicPolicy()
