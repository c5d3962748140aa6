"""The guardrail engine: one compiled guardrail version applied to text, with Bedrock's result.

:func:`compile_guardrail` builds a checker per configured policy (plug-ins from the
``strata.guardrail_policies`` entry-point group, :mod:`model_layer.plugins`) once per guardrail
version; :meth:`CompiledGuardrail.evaluate` runs them over the text blocks of one source and
folds their findings into ApplyGuardrail's answer: ``action`` (GUARDRAIL_INTERVENED when any
finding blocked or masked), ``outputs`` (the configured blocked message, or the masked texts),
``assessments`` grouped per policy, ``usage`` in text units and the coverage. Pure and
blocking: callers run it off the event loop.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from model_layer.guardrails.policies.base import Checker, CheckResult, Finding, Source, Span, TextBlock
from model_layer.plugins import GUARDRAIL_POLICIES, load

INTERVENED, NONE = "GUARDRAIL_INTERVENED", "NONE"
USAGE_KEYS = (
    "topicPolicyUnits",
    "contentPolicyUnits",
    "wordPolicyUnits",
    "sensitiveInformationPolicyUnits",
    "sensitiveInformationPolicyFreeUnits",
    "contextualGroundingPolicyUnits",
)


@dataclass
class GuardrailResult:
    """What applying a guardrail to one source's content amounts to (ApplyGuardrail's answer).

    ``texts`` are the checked texts after masking, in the order given (blocked or not);
    ``blocked`` tells a block from a mask (both are GUARDRAIL_INTERVENED).
    """

    action: str
    action_reason: str | None
    outputs: list[dict[str, str]]
    assessments: list[dict[str, Any]]
    usage: dict[str, int]
    coverage: dict[str, Any]
    blocked: bool = False
    texts: list[str] = field(default_factory=list)
    guardrail_id: str = ""
    guardrail_version: str = ""
    guardrail_arn: str = ""
    latency_ms: int = 0

    @property
    def intervened(self) -> bool:
        return self.action == INTERVENED

    def apply_response(self) -> dict[str, Any]:
        """The ApplyGuardrail response body."""
        out: dict[str, Any] = {
            "usage": self.usage,
            "action": self.action,
            "outputs": self.outputs,
            "assessments": self.assessments,
            "guardrailCoverage": self.coverage,
        }
        if self.action_reason:
            out["actionReason"] = self.action_reason
        return out


@dataclass
class CompiledGuardrail:
    """One guardrail version, ready to apply."""

    guardrail_id: str
    version: str
    arn: str
    blocked_input_messaging: str
    blocked_outputs_messaging: str
    checkers: list[tuple[Any, Checker]]  # (policy plug-in, its checker)

    def evaluate(self, source: Source, blocks: Sequence[TextBlock], *, full: bool = False) -> GuardrailResult:
        started = time.perf_counter()
        usage = dict.fromkeys(USAGE_KEYS, 0)
        assessment: dict[str, Any] = {}
        spans: list[Span] = []
        blocked = masked = False
        for policy, checker in self.checkers:
            result: CheckResult = checker.check(source, blocks)
            for key, units in result.units.items():
                usage[key] = usage.get(key, 0) + units
            shown = [f for f in result.findings if full or f.detected]
            if shown:
                assessment[policy.assessment_key] = _group(policy, shown)
            for finding in result.findings:
                blocked |= finding.blocks
                if finding.intervenes and not finding.blocks:
                    masked = True
                    spans.extend(finding.spans)
        texts = _masked([b.text for b in blocks], spans)
        latency = int((time.perf_counter() - started) * 1000)
        return self._result(source, blocks, texts, assessment, usage, blocked, masked, latency)

    def _result(self, source, blocks, texts, assessment, usage, blocked, masked, latency) -> GuardrailResult:
        coverage = _coverage(blocks)
        if assessment:
            assessment["invocationMetrics"] = {
                "guardrailProcessingLatency": latency,
                "usage": usage,
                "guardrailCoverage": coverage,
            }
        assessments = [assessment] if assessment else []
        if blocked:
            message = self.blocked_input_messaging if source == "INPUT" else self.blocked_outputs_messaging
            action, reason, outputs = INTERVENED, "Guardrail blocked.", [{"text": message}]
        elif masked:
            guarded = [t for t, b in zip(texts, blocks, strict=True) if b.guarded]
            action, reason, outputs = INTERVENED, "Guardrail masked.", [{"text": t} for t in guarded]
        else:
            action, reason, outputs = NONE, "No action.", []
        return GuardrailResult(
            action, reason, outputs, assessments, usage, coverage, blocked, texts,
            self.guardrail_id, self.version, self.arn, latency,
        )  # fmt: skip


def _group(policy: Any, findings: list[Finding]) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in findings:
        groups[f.group].append(f.entry)
    return {g: groups.get(g, []) for g in policy.groups} | {
        g: v for g, v in groups.items() if g not in policy.groups
    }


def _masked(texts: list[str], spans: list[Span]) -> list[str]:
    """Replace each span (the earliest-starting, longest wins where spans overlap)."""
    by_item: dict[int, list[Span]] = defaultdict(list)
    for s in spans:
        by_item[s.item].append(s)
    out = list(texts)
    for item, item_spans in by_item.items():
        text, pieces, cursor = texts[item], [], 0
        for s in sorted(item_spans, key=lambda s: (s.start, -(s.end - s.start))):
            if s.start < cursor:
                continue
            pieces += [text[cursor : s.start], s.replacement]
            cursor = s.end
        out[item] = "".join(pieces) + text[cursor:]
    return out


def _coverage(blocks: Sequence[TextBlock]) -> dict[str, Any]:
    total = sum(len(b.text) for b in blocks)
    guarded = sum(len(b.text) for b in blocks if b.guarded)
    return {"textCharacters": {"guarded": guarded, "total": total}}


def policy_plugins() -> dict[str, Any]:
    """Every registered guardrail policy, by entry-point name."""
    return load(GUARDRAIL_POLICIES)


def compile_guardrail(
    guardrail_id: str, version: str, arn: str, definition: dict[str, Any], resources: Any
) -> CompiledGuardrail:
    checkers = []
    for plugin in policy_plugins().values():
        config = definition.get(plugin.config_member)
        if config:
            checkers.append((plugin, plugin.build(config, resources)))
    return CompiledGuardrail(
        guardrail_id,
        version,
        arn,
        definition["blockedInputMessaging"],
        definition["blockedOutputsMessaging"],
        checkers,
    )
