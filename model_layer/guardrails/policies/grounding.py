"""Contextual grounding and relevance: is an answer supported by its source, and does it answer the query?

Applied when the content marks a grounding source (qualifier ``grounding_source``) and a query
(``query``); the guarded text is the answer. Scores come from a real model, the local MiniLM
sentence embeddings: GROUNDING is the mean, over the answer's sentences, of each sentence's best
similarity to any sentence (or window) of the source; RELEVANCE is the similarity of the answer
to the query. Both are mapped to 0-1 by a logistic fitted on labelled supported/unsupported and
relevant/irrelevant pairs (``data/calibration.json``). As on Bedrock, a filter blocks when its
score is below its threshold. A bi-encoder is a cheaper judge than an NLI cross-encoder: it
tells on-topic from off-topic well and misses a negated or altered fact (bench figures).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from model_layer.guardrails.classifier import calibration
from model_layer.guardrails.policies.base import CheckResult, Finding, Source, TextBlock, text_units
from model_layer.guardrails.text import sentences, windows


def _squash(kind: str, similarity: float) -> float:
    slope, midpoint = calibration().get("grounding_logistic", {}).get(kind, (12.0, 0.5))
    return round(1.0 / (1.0 + math.exp(-slope * (similarity - midpoint))), 2)


class GroundingChecker:
    def __init__(self, config: dict[str, Any], resources: Any):
        self._filters = config["filtersConfig"]
        self._resources = resources

    def scores(self, answer: str, source: str, query: str) -> dict[str, float]:
        embed = self._resources.embed
        claims = sentences(answer) or [answer]
        evidence = list(dict.fromkeys([*sentences(source), *windows(source)])) or [source]
        support = (embed(claims) @ embed(evidence).T).max(axis=1)
        relevance = float((embed([answer]) @ embed([query]).T)[0, 0])
        return {
            "GROUNDING": _squash("GROUNDING", float(np.mean(support))),
            "RELEVANCE": _squash("RELEVANCE", relevance),
        }

    def check(self, source: Source, blocks: Sequence[TextBlock]) -> CheckResult:
        answer = " ".join(b.text for b in blocks if b.guarded)
        grounding = " ".join(b.text for b in blocks if "grounding_source" in b.qualifiers)
        query = " ".join(b.text for b in blocks if "query" in b.qualifiers)
        result = CheckResult()
        if not (answer.strip() and grounding.strip() and query.strip()):
            return result  # nothing marked to ground against: the policy does not apply
        result.units["contextualGroundingPolicyUnits"] = text_units([answer, grounding, query])
        scores = self.scores(answer, grounding, query)
        for f in self._filters:
            if f.get("enabled") is False:
                continue
            score = scores[f["type"]]
            detected = score < f["threshold"]
            blocked = detected and (f.get("action") or "BLOCK") == "BLOCK"
            entry = {
                "type": f["type"],
                "threshold": f["threshold"],
                "score": score,
                "action": "BLOCKED" if blocked else "NONE",
                "detected": detected,
            }
            result.findings.append(
                Finding("filters", entry, intervenes=blocked, blocks=blocked, detected=detected)
            )
        return result


class ContextualGroundingPolicy:
    config_member: ClassVar[str] = "contextualGroundingPolicyConfig"
    assessment_key: ClassVar[str] = "contextualGroundingPolicy"
    groups: ClassVar[tuple[str, ...]] = ("filters",)

    def build(self, config: dict[str, Any], resources: Any) -> GroundingChecker:
        return GroundingChecker(config, resources)


PLUGIN = ContextualGroundingPolicy()
