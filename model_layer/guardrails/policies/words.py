"""Word filters: custom words and phrases, and the managed PROFANITY list.

Matching is on word boundaries, case-insensitive, and accepts the plural of the last word
("refund" matches "Refunds", "credit card" matches "credit cards", "party" matches "parties").
The text is split into words once and phrases are looked up by their first word, so a guardrail
with 10,000 words costs the same per character as one with ten (no giant alternation regex).
The managed PROFANITY list is better-profanity's word list (PyPI ``better-profanity``, the most
used list package; read from its data file, so updating the package updates the list).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Sequence
from importlib import resources
from typing import Any, ClassVar

from model_layer.guardrails.config import effective
from model_layer.guardrails.policies.base import CheckResult, Finding, Source, TextBlock, text_units

_WORD = re.compile(r"[\w']+", re.UNICODE)


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return [(m.group().lower().strip("'"), m.start(), m.end()) for m in _WORD.finditer(text)]


def _singulars(word: str) -> list[str]:
    """The word itself first, then what it is the plural of (the last phrase word may be plural)."""
    forms = [word]
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    if word.endswith("es") and len(word) > 3:
        forms.append(word[:-2])
    if word.endswith("s") and len(word) > 2:
        forms.append(word[:-1])
    return forms


@functools.cache
def profanity_words() -> frozenset[str]:
    """The managed PROFANITY list (better-profanity's wordlist, lower case)."""
    text = resources.files("better_profanity").joinpath("profanity_wordlist.txt").read_text("utf-8")
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip())


class PhraseIndex:
    """Phrases (tuples of words) by first word; finds them in a token list in linear time."""

    def __init__(self, phrases: dict[tuple[str, ...], Any]):
        self._by_first: dict[str, list[tuple[tuple[str, ...], Any]]] = defaultdict(list)
        for words, payload in phrases.items():
            if words:
                self._by_first[words[0]].append((words, payload))
        for entries in self._by_first.values():
            entries.sort(key=lambda e: -len(e[0]))  # the longest phrase wins at a position

    def find(self, tokens: list[tuple[str, int, int]]):
        """``(payload, start, end)`` of every phrase found, leftmost-longest, not overlapping."""
        i = 0
        while i < len(tokens):
            hit = self._match_at(tokens, i)
            if hit is None:
                i += 1
                continue
            payload, length = hit
            yield payload, tokens[i][1], tokens[i + length - 1][2]
            i += length

    def _match_at(self, tokens, i):
        first = tokens[i][0]
        for form in _singulars(first):
            for words, payload in self._by_first.get(form, ()):
                n = len(words)
                if n == 1:
                    return payload, 1
                if i + n > len(tokens) or first != words[0]:
                    continue
                window = [t[0] for t in tokens[i : i + n]]
                if window[1:-1] == list(words[1:-1]) and words[-1] in _singulars(window[-1]):
                    return payload, n
        return None


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(t[0] for t in _tokens(text))


class WordChecker:
    def __init__(self, config: dict[str, Any]):
        self._custom = config.get("wordsConfig") or []
        self._managed = config.get("managedWordListsConfig") or []
        self._custom_index = PhraseIndex({_phrase(w["text"]): i for i, w in enumerate(self._custom)})
        self._profanity = PhraseIndex({(w,): w for w in profanity_words()}) if self._managed else None

    def check(self, source: Source, blocks: Sequence[TextBlock]) -> CheckResult:
        guarded = [b.text for b in blocks if b.guarded]
        result = CheckResult(units={"wordPolicyUnits": text_units(guarded)})
        for text in guarded:
            tokens = _tokens(text)
            for index, start, end in self._custom_index.find(tokens):
                self._add(result, "customWords", self._custom[index], text[start:end], source)
            if self._profanity is not None:
                for _, start, end in self._profanity.find(tokens):
                    for managed in self._managed:
                        self._add(result, "managedWordLists", managed, text[start:end], source, "PROFANITY")
        return result

    @staticmethod
    def _add(
        result: CheckResult, group: str, item: dict, match: str, source: Source, kind: str | None = None
    ):
        enabled, action = effective(item, source)
        if not enabled:
            return
        blocked = action == "BLOCK"
        entry: dict[str, Any] = {"match": match, "action": "BLOCKED" if blocked else "NONE", "detected": True}
        if kind:
            entry["type"] = kind
        result.findings.append(Finding(group, entry, intervenes=blocked, blocks=blocked))


class WordPolicy:
    config_member: ClassVar[str] = "wordPolicyConfig"
    assessment_key: ClassVar[str] = "wordPolicy"
    groups: ClassVar[tuple[str, ...]] = ("customWords", "managedWordLists")

    def build(self, config: dict[str, Any], resources: Any) -> WordChecker:
        return WordChecker(config)


PLUGIN = WordPolicy()
