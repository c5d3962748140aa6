"""Splitting text for the embedding-based policies: sentences, and windows that fit MiniLM.

MiniLM reads at most 256 tokens; a long prompt (a jailbreak preamble is often thousands of
characters) is scored window by window and the policy takes the highest score, so an attack
cannot hide behind padding.
"""

from __future__ import annotations

import re

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
WINDOW_CHARS = 600  # ~150 tokens of English: inside MiniLM's 256 with room for long words
MAX_WINDOWS = 16  # bounds the model work per text (16 x 600 characters checked densely)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def windows(text: str) -> list[str]:
    """Overlapping windows of whole sentences, at most :data:`MAX_WINDOWS` (evenly spread)."""
    text = text.strip()
    if len(text) <= WINDOW_CHARS:
        return [text] if text else []
    out, current = [], ""
    for sentence in sentences(text):
        while len(sentence) > WINDOW_CHARS:  # a run-on "sentence": cut it
            out.append(sentence[:WINDOW_CHARS])
            sentence = sentence[WINDOW_CHARS // 2 :]
        if len(current) + len(sentence) + 1 > WINDOW_CHARS and current:
            out.append(current)
            current = current[len(current) // 2 :]  # half a window of overlap
        current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    if len(out) > MAX_WINDOWS:
        step = len(out) / MAX_WINDOWS
        out = [out[int(i * step)] for i in range(MAX_WINDOWS)]
    return out
