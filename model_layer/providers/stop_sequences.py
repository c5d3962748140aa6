"""Stop sequences matched by the gateway, in streamed text, so a match can be reported as such.

Bedrock reports ``stopReason: stop_sequence`` (and Anthropic's ``stop_sequence`` names the string)
when a stop sequence ended the answer. An OpenAI-style engine that is given the stop sequences
(llama.cpp among them) answers ``finish_reason: "stop"`` both for that and for end-of-sequence,
and its streamed chunks say nothing more, so a provider that must tell the two apart keeps the
sequences from the engine and matches them here instead, as the engine would have: on the
decoded text, across chunk boundaries, the sequence itself not part of the answer.

:class:`StopMatcher` holds back only text that may be the start of a stop sequence, so the
answer streams with no more delay than the engine's own matching causes.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    """Feed it the answer's text piece by piece; it returns what may be sent on."""

    def __init__(self, stop_sequences: Sequence[str]):
        self.stop_sequences = [s for s in stop_sequences if s]
        self.matched: str | None = None  # the stop sequence that ended the answer
        self._held = ""  # a tail that is a proper prefix of some stop sequence

    def feed(self, text: str) -> str:
        """The part of ``text`` (with what was held before) that is answer; '' once matched."""
        if self.matched is not None:
            return ""
        if not self.stop_sequences:
            return text
        pending = self._held + text
        found = [(pending.find(s), s) for s in self.stop_sequences]
        hits = [(at, s) for at, s in found if at >= 0]
        if hits:
            at, self.matched = min(hits, key=lambda hit: hit[0])
            self._held = ""
            return pending[:at]
        keep = self._partial_tail(pending)
        self._held = pending[len(pending) - keep :] if keep else ""
        return pending[: len(pending) - keep]

    def flush(self) -> str:
        """What is still held back, once the engine has ended the answer by itself."""
        held, self._held = self._held, ""
        return "" if self.matched is not None else held

    def _partial_tail(self, text: str) -> int:
        """Length of the longest end of ``text`` that is the start of a stop sequence."""
        longest = 0
        for stop in self.stop_sequences:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if stop.startswith(text[-size:]):
                    longest = size
                    break
        return longest
