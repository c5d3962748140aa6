"""Content filters (HATE, INSULTS, SEXUAL, VIOLENCE, MISCONDUCT) and prompt-attack detection.

Scores come from the trained classifiers (:mod:`model_layer.guardrails.classifier`); each
configured filter reports its category's confidence and blocks when its strength for the source
covers that confidence. PROMPT_ATTACK is checked on inputs only, as on Bedrock (its output
strength must be NONE). With ApplyGuardrail, prompt attacks are looked for in every guarded
text; inside Converse, in the content the request marks (``guardContent``) or all user text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from model_layer.guardrails.classifier import blocks
from model_layer.guardrails.config import effective
from model_layer.guardrails.policies.base import CheckResult, Finding, Source, TextBlock, text_units


class ContentChecker:
    def __init__(self, config: dict[str, Any], resources: Any):
        self._filters = config["filtersConfig"]
        self._resources = resources
        self._classifier = resources.classifier()

    def _active(self, source: Source) -> list[tuple[dict[str, Any], str, str]]:
        side = "inputStrength" if source == "INPUT" else "outputStrength"
        active = []
        for f in self._filters:
            enabled, action = effective(f, source)
            if enabled and f[side] != "NONE" and not (f["type"] == "PROMPT_ATTACK" and source == "OUTPUT"):
                active.append((f, f[side], action))
        return active

    def check(self, source: Source, blocks_: Sequence[TextBlock]) -> CheckResult:
        guarded = [b.text for b in blocks_ if b.guarded]
        result = CheckResult(units={"contentPolicyUnits": text_units(guarded)})
        active = self._active(source)
        if not guarded or not active:
            return result
        scores = self._classifier.score_texts(guarded, self._resources.embed)
        for f, strength, action in active:
            confidence = self._classifier.confidence(f["type"], scores[f["type"]])
            detected = blocks(strength, confidence)
            blocked = detected and action == "BLOCK"
            entry = {
                "type": f["type"],
                "confidence": confidence,
                "filterStrength": strength,
                "action": "BLOCKED" if blocked else "NONE",
                "detected": detected,
            }
            result.findings.append(
                Finding("filters", entry, intervenes=blocked, blocks=blocked, detected=detected)
            )
        return result


class ContentPolicy:
    config_member: ClassVar[str] = "contentPolicyConfig"
    assessment_key: ClassVar[str] = "contentPolicy"
    groups: ClassVar[tuple[str, ...]] = ("filters",)

    def build(self, config: dict[str, Any], resources: Any) -> ContentChecker:
        return ContentChecker(config, resources)


PLUGIN = ContentPolicy()
