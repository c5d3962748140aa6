"""Contextual grounding and relevance: is an answer supported by its source, and does it answer the query?

Applied when the content marks a grounding source (qualifier ``grounding_source``) and a query
(``query``); the guarded text is the answer. GROUNDING combines two signals: the local MiniLM
embeddings' support (the mean, over the answer's sentences, of each sentence's best similarity to
any sentence or window of the source) and the answer's fact coverage (the share of its numbers
and content words, stemmed, that occur in the source or the query, numbers weighing more). A
bi-encoder alone scores a changed number or an invented detail as well supported, because the
sentence is about the same thing; coverage catches those, the embeddings catch paraphrase.
RELEVANCE is the similarity of the answer to the query. Both raw scores are mapped to 0-1 by a
logistic whose midpoint is fitted on labelled pairs (``data/grounding_pairs.json``, calibration
half, by ``data/calibrate_grounding.py``; stored in ``calibration.json``); the other half is
bench/guardrails.py's held-out set. As on Bedrock, a filter blocks when its score is below its
threshold. What still passes: a negation, or a swapped word the source also uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from model_layer.guardrails.classifier import calibration
from model_layer.guardrails.policies.base import CheckResult, Finding, Source, TextBlock, text_units
from model_layer.guardrails.text import sentences, windows


def _squash(kind: str, raw: float) -> float:
    slope, midpoint = calibration().get("grounding_logistic", {}).get(kind, (12.0, 0.5))
    return round(1.0 / (1.0 + math.exp(-slope * (raw - midpoint))), 2)


_STOP_WORDS = """the a an and or but if of to in on at for with by from is are was were be been it its this
that these those you your we our can could will would should do does did has have had not no yes as
than then there their they he she his her which what when where how who also only up any all each per"""
_STOP = frozenset(_STOP_WORDS.split())
_DIGIT_WORDS = "zero one two three four five six seven eight nine ten eleven twelve"
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(_DIGIT_WORDS.split())}
NUMBER_WEIGHT = 3.0  # 3 and 5 tie on the calibration half (bench/results/guardrails.md)
_TOKEN = re.compile(r"[a-z]+|\d+(?:[.,]\d+)?")


def facts(text: str) -> set[str]:
    """Numbers and content words, cut to five letters (a cheap stem: "returns" ~ "returned")."""
    words = (_NUMBER_WORDS.get(w, w) for w in _TOKEN.findall(text.lower()))
    return {w[:5] for w in words if w[0].isdigit() or (len(w) > 2 and w not in _STOP)}


def coverage(answer: str, source: str, query: str) -> float:
    """The weighted share of the answer's facts found in the source or the query (1.0 with none).

    A number weighs :data:`NUMBER_WEIGHT` words: a changed price, date or quantity is the
    commonest unsupported claim, and one changed number among five words must still count."""
    claimed = facts(answer)
    if not claimed:
        return 1.0
    known = facts(source) | facts(query)
    weights = {fact: NUMBER_WEIGHT if fact[0].isdigit() else 1.0 for fact in claimed}
    return sum(w for fact, w in weights.items() if fact in known) / sum(weights.values())


class GroundingChecker:
    def __init__(self, config: dict[str, Any], resources: Any):
        self._filters = config["filtersConfig"]
        self._resources = resources

    def raw_scores(self, answer: str, source: str, query: str) -> dict[str, float]:
        """The unmapped scores (calibration and the bench use these): grounding is the mean of
        embedding support and fact coverage, relevance the answer-query similarity."""
        embed = self._resources.embed
        claims = sentences(answer) or [answer]
        evidence = list(dict.fromkeys([*sentences(source), *windows(source)])) or [source]
        support = float(np.mean((embed(claims) @ embed(evidence).T).max(axis=1)))
        relevance = float((embed([answer]) @ embed([query]).T)[0, 0])
        return {
            "GROUNDING": (support + coverage(answer, source, query)) / 2,
            "GROUNDING_EMBEDDING_ONLY": support,
            "RELEVANCE": relevance,
        }

    def scores(self, answer: str, source: str, query: str) -> dict[str, float]:
        raw = self.raw_scores(answer, source, query)
        return {kind: _squash(kind, raw[kind]) for kind in ("GROUNDING", "RELEVANCE")}

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
