"""The one small interface every guardrail policy implements, and what a check reports.

A policy plug-in (registered in the ``strata.guardrail_policies`` entry-point group, as the
built-in ones are in pyproject.toml) reads one member of a guardrail definition
(``config_member``, e.g. ``wordPolicyConfig``) and builds a :class:`Checker` from it once per
guardrail version; the engine then calls ``check(source, texts)`` for every evaluation. A check
returns :class:`Finding` entries in Bedrock's assessment shape (``entry``), grouped under the
policy's ``assessment_key`` and ``group`` (``wordPolicy.customWords``), with the spans to mask
when the action is ANONYMIZED, and the text units it used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

Source = Literal["INPUT", "OUTPUT"]
UNIT_CHARS = 1000  # one Bedrock text unit is up to 1,000 characters


def text_units(texts: Sequence[str]) -> int:
    """Bedrock bills each text block in units of up to 1,000 characters."""
    return sum(max(1, math.ceil(len(t) / UNIT_CHARS)) for t in texts if t)


@dataclass(frozen=True)
class Span:
    """A piece of text to replace when masking: ``texts[item][start:end]`` → ``replacement``."""

    item: int
    start: int
    end: int
    replacement: str


@dataclass
class Finding:
    """One assessment entry (in Bedrock's shape) and what it means for the action."""

    group: str  # e.g. "topics", "filters", "customWords", "piiEntities"
    entry: dict[str, Any]
    intervenes: bool  # BLOCKED or ANONYMIZED
    blocks: bool = False  # BLOCKED
    detected: bool = True  # False: reported only with outputScope FULL / trace enabled_full
    spans: list[Span] = field(default_factory=list)


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    units: dict[str, int] = field(default_factory=dict)  # GuardrailUsage member -> units


@dataclass(frozen=True)
class TextBlock:
    """A text to check, with its ApplyGuardrail / guardContent qualifiers."""

    text: str
    qualifiers: tuple[str, ...] = ()

    @property
    def guarded(self) -> bool:
        """Checked by the content policies: not a grounding source or query (those are context)."""
        return not self.qualifiers or "guard_content" in self.qualifiers


class Checker(Protocol):
    def check(self, source: Source, blocks: Sequence[TextBlock]) -> CheckResult: ...


class GuardrailPolicy(Protocol):
    """A policy plug-in: which definition member it reads and how it builds its checker."""

    config_member: ClassVar[str]  # e.g. "wordPolicyConfig"
    assessment_key: ClassVar[str]  # e.g. "wordPolicy"
    groups: ClassVar[
        tuple[str, ...]
    ]  # the assessment's required lists, e.g. ("customWords", "managedWordLists")

    def build(self, config: dict[str, Any], resources: Any) -> Checker: ...
