"""Sensitive information: PII entities and custom regexes, each BLOCK, ANONYMIZE or NONE (detect only).

PII is recognised by :mod:`model_layer.guardrails.pii`; ANONYMIZE puts ``{TYPE}`` where the value
was (``{EMAIL}``), a regex's matches become ``{<regex name>}``. Actions can differ per source
(``inputAction``/``outputAction``). Regexes run on the ``regex`` engine with a time limit
(:mod:`model_layer.guardrails.regexes`); one that runs out of time on a text is reported as a
BLOCKED match, since what it would have found is unknown. Text units: regex-only policies are
counted as free units, as Bedrock does not bill regex filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from model_layer.guardrails.config import effective
from model_layer.guardrails.pii import find_pii
from model_layer.guardrails.policies.base import CheckResult, Finding, Source, Span, TextBlock, text_units
from model_layer.guardrails.regexes import RegexTimeout, compile_guarded, finditer

_PAST = {"BLOCK": "BLOCKED", "ANONYMIZE": "ANONYMIZED", "NONE": "NONE"}


class SensitiveChecker:
    def __init__(self, config: dict[str, Any]):
        self._entities = {e["type"]: e for e in config.get("piiEntitiesConfig") or []}
        self._regexes = [(r, compile_guarded(r["pattern"])) for r in config.get("regexesConfig") or []]

    def _active_entities(self, source: Source) -> dict[str, str]:
        active = {}
        for entity, item in self._entities.items():
            enabled, action = effective(item, source, default_action=item["action"])
            if enabled:
                active[entity] = action
        return active

    def check(self, source: Source, blocks: Sequence[TextBlock]) -> CheckResult:
        guarded = [(i, b.text) for i, b in enumerate(blocks) if b.guarded]
        units = text_units([t for _, t in guarded])
        key = "sensitiveInformationPolicyUnits" if self._entities else "sensitiveInformationPolicyFreeUnits"
        result = CheckResult(units={key: units})
        entities = self._active_entities(source)
        for item, text in guarded:
            if entities:
                for m in find_pii(text, frozenset(entities)):
                    self._add(result, "piiEntities", {"match": m.text, "type": m.entity}, entities[m.entity],
                              Span(item, m.start, m.end, "{" + m.entity + "}"))  # fmt: skip
            for config, compiled in self._regexes:
                self._check_regex(result, source, item, text, config, compiled)
        return result

    def _check_regex(self, result, source, item, text, config, compiled) -> None:
        enabled, action = effective(config, source, default_action=config["action"])
        if not enabled:
            return
        base = {"name": config["name"], "regex": config["pattern"]}
        try:
            matches = finditer(compiled, text)
        except RegexTimeout:
            self._add(result, "regexes", {**base, "match": ""}, "BLOCK", None)
            return
        for m in matches:
            if m.end() > m.start():
                span = Span(item, m.start(), m.end(), "{" + config["name"] + "}")
                self._add(result, "regexes", {**base, "match": m.group()}, action, span)

    @staticmethod
    def _add(result: CheckResult, group: str, entry: dict, action: str, span: Span | None) -> None:
        entry = {**entry, "action": _PAST[action], "detected": True}
        spans = [span] if span is not None and action == "ANONYMIZE" else []
        result.findings.append(
            Finding(group, entry, intervenes=action != "NONE", blocks=action == "BLOCK", spans=spans)
        )


class SensitiveInformationPolicy:
    config_member: ClassVar[str] = "sensitiveInformationPolicyConfig"
    assessment_key: ClassVar[str] = "sensitiveInformationPolicy"
    groups: ClassVar[tuple[str, ...]] = ("piiEntities", "regexes")

    def build(self, config: dict[str, Any], resources: Any) -> SensitiveChecker:
        return SensitiveChecker(config)


PLUGIN = SensitiveInformationPolicy()
