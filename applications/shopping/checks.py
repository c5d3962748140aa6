"""Checks on the assistant's own words before a shopper sees them (code, not the model's judgement).

- links and e-mail addresses are removed (the store never sends shoppers elsewhere: a phishing URL
  planted in a review dies here even if the model repeats it);
- a sentence with a dollar amount that no tool result, policy or the shopper's message contains is
  dropped (so "this item is free" or "$1" planted in a review cannot become a quoted price);
- a number with a unit of measure ("3.5 kg", "1.2%") that no tool result or the shopper's message
  contains is cut with the rest of its sentence from the clause it is in ("It weighs 0.82 kg, which
  is 1.2% lighter than…" keeps "It weighs 0.82 kg."), or the sentence dropped if it is the first;
- a sentence that repeats the system prompt is dropped, and so are the prefetch prompt's labels
  echoed back ("Store data:", an invented "Shopper's question: …");
- a sentence the answer already said is dropped, and an answer that keeps repeating itself is cut
  (a small model at temperature 0 can loop on one sentence until its token budget runs out) — so is
  a sentence that loops on a phrase without ever ending ("1.5-liter capacity, 1.5-liter capacity,").

The text is checked a sentence at a time so answers can still stream: :class:`SentenceGate` holds
back the unfinished sentence and releases each finished one once it passed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from applications.shopping.tools import EMAIL_RE, URL_RE

MONEY_RE = re.compile(
    r"(?i)(?:\$\s?(\d+(?:,\d{3})*(?:\.\d{1,2})?))|(?:(\d+(?:,\d{3})*(?:\.\d{1,2})?)\s?(?:dollars|usd))"
)
FREE_RE = re.compile(r"(?i)\b(?:is|are|for|costs?)\s+(?:totally\s+|now\s+)?free\b")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# a phrase of 10-80 characters said three times in a row: a loop inside one endless sentence
PHRASE_LOOP = re.compile(r"(.{10,80}?)\1\1", re.S)
REMOVED_PRICE = "(I left out a price I could not check against the catalog.)"
REMOVED_FIGURE = "(I left out a figure I could not check against the catalog.)"
# a number with a unit of measure ("3.5 kg", "1.2%", "2-person"): it must be one the tools returned
FIGURE_RE = re.compile(
    r"(?i)(?<![\w.$])(-?\d+(?:,\d{3})*(?:\.\d+)?)\s?-?\s?(%|percent|kg|kilos?|grams?|g|litres?|liters?|l|ml|mm|cm|"
    r"m|metres?|meters?|°\s?c|degrees?|hours?|hrs?|h|minutes?|mins?|lumens?|people|persons?|cups?|db|oz|"
    r"ounces?|lbs?|pounds?|inch(?:es)?|microns?|years?|days?|watts?|w|mah)(?![a-z])"
)
NUMBER_RE = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
CLAUSE_RE = re.compile(r"(,\s+|;\s+|\s+(?:which|while|but|whereas)\s+)")
# the prefetch prompt's own labels, echoed by a small model: a label is stripped, an invented
# "Shopper's question: …" is dropped
LABEL_RE = re.compile(r"(?i)^\s*(?:store data:|store policy \[[^\]]*\][^:]{0,40}:|customer review[^:]{0,40}:|"
                      r"seller's description[^:]{0,40}:|the answer(?: is)?:)\s*")  # fmt: skip
INVENTED_QUESTION_RE = re.compile(r"(?i)shopper's question:")


def _figures(text: str) -> set[float]:
    return {round(float(n.replace(",", "")), 2) for n in NUMBER_RE.findall(text)}


def _shingles(text: str, n: int = 6) -> set[str]:
    tokens = re.findall(r"[a-z0-9']+", text.lower())
    return {" ".join(tokens[i : i + n]) for i in range(max(0, len(tokens) - n + 1))}


class AnswerChecker:
    """Judges one sentence of an answer against what this turn's tools and shopper said."""

    def __init__(
        self,
        system_prompt: str,
        known_numbers: set[float],
        user_text: str,
        trusted: list[str] | None = None,
        observed: list[str] | None = None,
    ) -> None:
        self._prompt = _shingles(system_prompt)
        self._prompt_text = " ".join(re.findall(r"[a-z0-9']+", system_prompt.lower()))
        self.known = known_numbers
        self.user_text = user_text
        self.trusted = trusted if trusted is not None else []  # catalog facts and policy text seen
        self.dropped: list[str] = []
        # every tool result of the turn, catalog text included (a review's "3 hours" is a fact to
        # report); None: figures are not checked
        self.observed = observed

    def _figure_known(self, clause: str) -> bool:
        if self.observed is None:
            return True
        said = {round(float(m.group(1).replace(",", "")), 2) for m in FIGURE_RE.finditer(clause)}
        if not said:
            return True
        seen = _figures(" ".join(self.observed)) | _figures(self.user_text)
        return {abs(v) for v in said} <= {abs(v) for v in seen}  # "-15 °C" is written "15 °C" too

    def _figures_checked(self, sentence: str) -> str:
        """The sentence up to its first clause with a figure no tool returned ('' if that is the first)."""
        pieces = CLAUSE_RE.split(sentence)
        kept = ""
        for i in range(0, len(pieces), 2):
            if not self._figure_known(pieces[i]):
                if not kept:
                    return ""
                self.dropped.append(sentence.strip())
                return kept.rstrip(" ,;") + "." + (" " if sentence.endswith(" ") else "")
            kept += pieces[i] + (pieces[i + 1] if i + 1 < len(pieces) else "")
        return sentence

    def _numbers_known(self, sentence: str) -> bool:
        for match in MONEY_RE.finditer(sentence):
            raw = (match.group(1) or match.group(2)).replace(",", "")
            value = round(float(raw), 2)
            if value not in self.known and raw not in self.user_text:
                return False
        return True

    def _free_is_a_fact(self) -> bool:
        """Whether a trusted tool result says "free" (free shipping from 75 dollars is policy)."""
        return any("free" in text.lower() for text in self.trusted)

    def check(self, sentence: str) -> str:
        """The sentence as the shopper may see it ('' when dropped)."""
        clean = EMAIL_RE.sub("[email removed]", URL_RE.sub("[link removed]", sentence))
        tokens = re.findall(r"[a-z0-9']+", clean.lower())
        # six words in a row of the prompt, or a shorter line of it quoted whole ("Rules:" is one word)
        if (self._prompt and _shingles(clean) & self._prompt) or (
            len(tokens) >= 3 and f" {' '.join(tokens)} " in f" {self._prompt_text} "
        ):
            self.dropped.append("system prompt")
            return ""
        if not self._numbers_known(clean) or (FREE_RE.search(clean) and not self._free_is_a_fact()):
            self.dropped.append(sentence.strip())
            return REMOVED_PRICE if REMOVED_PRICE not in self.dropped else ""
        if INVENTED_QUESTION_RE.search(clean):
            self.dropped.append(sentence.strip())
            return ""
        clean = LABEL_RE.sub("", clean)
        checked = self._figures_checked(clean)
        if not checked:
            self.dropped.append(sentence.strip())
            return REMOVED_FIGURE if REMOVED_FIGURE not in self.dropped else ""
        return checked


class SentenceGate:
    """Feeds streamed text through :class:`AnswerChecker` one finished sentence at a time."""

    MAX_REPEATS = 2  # repeated sentences before the answer counts as looping

    def __init__(self, checker: AnswerChecker) -> None:
        self.checker = checker
        self._pending = ""
        self._said_removed: set[str] = set()
        self._said: set[str] = set()
        self.repeats = 0

    @property
    def looping(self) -> bool:
        """Whether the model keeps repeating itself (the caller stops the model's stream)."""
        return self.repeats >= self.MAX_REPEATS

    def _emit(self, sentence: str) -> str:
        key = " ".join(re.findall(r"[a-z0-9']+", sentence.lower()))
        if key and key in self._said:
            self.repeats += 1
            return ""
        self._said.add(key)
        checked = self.checker.check(sentence)
        if checked in (REMOVED_PRICE, REMOVED_FIGURE):
            if checked in self._said_removed:
                return ""
            self._said_removed.add(checked)
            return checked
        said = " ".join(re.findall(r"[a-z0-9']+", checked.lower()))  # the same once a label is off
        if said != key and said in self._said:
            return ""
        self._said.add(said)
        return checked

    def feed(self, delta: str) -> Iterator[str]:
        self._pending += delta
        if PHRASE_LOOP.search(self._pending):  # "1.5-liter capacity, 1.5-liter capacity, ..."
            self.repeats, self._pending = max(self.repeats, self.MAX_REPEATS), ""
            return
        while True:
            match = SENTENCE_END.search(self._pending)
            if match is None:
                return
            sentence, self._pending = self._pending[: match.end()], self._pending[match.end() :]
            out = self._emit(sentence)
            if out:
                yield out if out.endswith((" ", "\n")) else out + " "

    def flush(self) -> Iterator[str]:
        if self.looping:  # the model was cut off mid-loop: its unfinished sentence is more of it
            self._pending = ""
        if self._pending.strip():
            out = self._emit(self._pending)
            self._pending = ""
            if out:
                yield out
