"""RetrieveAndGenerate: retrieve, prompt the model with the search results, answer with citations.

The prompt is Bedrock's shape: a template whose ``$search_results$`` is replaced by the numbered
results (``$query$`` and ``$output_format_instructions$`` are filled too), sent as the system
prompt, with the session's earlier turns and the question as messages, through
:meth:`ModelService.converse_stream` (metered, limited). Citations are attributed after the
answer is complete: each sentence of the answer is a ``generatedResponsePart`` whose span indexes
``output.text`` (``end`` inclusive) and whose ``retrievedReferences`` are the results that
support it — those the model cited as ``[n]``; else, given the sentences' and results' embeddings,
the result closest in meaning among those sharing a content word with it; else (no embeddings)
those sharing most of its content words. Small local models rarely cite, so the embedding check
is what usually decides: plain word overlap let generic words ("not", "room", "hours") outvote the
one word naming the subject and cited a neighbouring product's sheet.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from model_layer.knowledge.records import RetrievalResult

DEFAULT_TEMPLATE = (
    "You are a question answering agent. I will provide you with a set of search results. The user will "
    "provide you with a question. Your job is to answer the user's question using only information from "
    "the search results. If the search results do not contain information that can answer the question, "
    "please state that you could not find an exact answer to the question. Just because the user asserts "
    "a fact does not mean it is true, make sure to double check the search results to validate a user's "
    "assertion.\n\nHere are the search results in numbered order:\n$search_results$\n\n"
    "$output_format_instructions$"
)
FORMAT_INSTRUCTIONS = "Answer in a few sentences. After a sentence that uses a search result, cite it as [n]."
_WORD = re.compile(r"[a-z0-9]+")
# A sentence ends at . ! ? followed by white space, or at a line break — not inside "4.2.1" or "ST-2.5".
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n+")
_MARKER = re.compile(r"\[(\d{1,3})\]")
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    }
)
SUPPORT_THRESHOLD = 0.34  # share of a sentence's content words a result must contain to support it
# Cosine between a sentence's and a result's embedding for the result to support it. With MiniLM, a
# sentence about a product scores 0.54-0.74 against its sheet and 0.0-0.26 against another product's
# (test_citations.py's passages); filler such as "Hope this helps." stays near 0.
SEMANTIC_THRESHOLD = 0.35
SEMANTIC_MARGIN = 0.05  # a second result is cited too when it is this close to the best


def format_results(results: list[RetrievalResult]) -> str:
    return "\n".join(
        f"<search_result>\n[{i}] {r.content.get('text', '')}\n</search_result>"
        for i, r in enumerate(results, 1)
    )


def build_system(template: str | None, results: list[RetrievalResult], query: str) -> str:
    text = template or DEFAULT_TEMPLATE
    return (
        text.replace("$search_results$", format_results(results))
        .replace("$output_format_instructions$", FORMAT_INSTRUCTIONS)
        .replace("$query$", query)
    )


def build_messages(turns: list[dict[str, str]], question: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in turns[-5:]:  # the last few exchanges are enough context for a follow-up
        messages.append({"role": "user", "content": [{"text": turn["question"]}]})
        messages.append({"role": "assistant", "content": [{"text": turn["answer"] or "(no answer)"}]})
    messages.append({"role": "user", "content": [{"text": question}]})
    return messages


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def split_sentences(answer: str) -> list[tuple[int, str]]:
    """``(start, text)`` of each sentence of ``answer``, stripped; ``start`` indexes ``answer``."""
    out = []
    pos = 0
    for end, after in [(m.start(), m.end()) for m in _BOUNDARY.finditer(answer)] + [(len(answer), 0)]:
        piece = answer[pos:end]
        if piece.strip():
            out.append((pos + len(piece) - len(piece.lstrip()), piece.strip()))
        pos = after
    return out


def attribute(
    answer: str, results: list[RetrievalResult], similarity: Sequence[Sequence[float]] | None = None
) -> list[dict[str, Any]]:
    """Bedrock Citations for ``answer``: one per sentence that some result supports.
    ``similarity[k][i]``: cosine between sentence ``k`` (of :func:`split_sentences`) and result ``i``."""
    chunks = [_words(r.content.get("text", "")) for r in results]
    citations = []
    for k, (start, text) in enumerate(split_sentences(answer)):
        refs = _supporting(text, chunks, similarity[k] if similarity is not None else None)
        if not refs:
            continue
        citations.append(
            {
                "generatedResponsePart": {
                    "textResponsePart": {"text": text, "span": {"start": start, "end": start + len(text) - 1}}
                },
                "retrievedReferences": [results[i].reference() for i in refs],
            }
        )
    return citations


def _supporting(sentence: str, chunks: list[set[str]], cosines: Sequence[float] | None) -> list[int]:
    cited = [int(n) - 1 for n in _MARKER.findall(sentence) if 0 < int(n) <= len(chunks)]
    if cited:
        return list(dict.fromkeys(cited))
    words = _words(_MARKER.sub("", sentence))
    if not words:
        return []
    if cosines is not None:
        # meaning decides, but only among results the sentence shares a content word with, so that
        # filler ("Hope this helps.") close to nothing in particular cites nothing
        grounded = [(c, i) for i, c in enumerate(cosines) if c >= SEMANTIC_THRESHOLD and words & chunks[i]]
        if not grounded:
            return []
        best = max(c for c, _ in grounded)
        close = sorted((s for s in grounded if s[0] >= best - SEMANTIC_MARGIN), key=lambda s: (-s[0], s[1]))
        return [i for _, i in close[:2]]
    scored = [(len(words & chunk) / len(words), i) for i, chunk in enumerate(chunks)]
    best_lexical = sorted((s for s in scored if s[0] >= SUPPORT_THRESHOLD), key=lambda s: (-s[0], s[1]))
    return [i for _, i in best_lexical[:2]]


def cosines(sentences: list[list[float]], passages: list[list[float]]) -> list[list[float]]:
    """Cosine of every sentence vector against every passage vector."""

    def unit(v: list[float]) -> list[float]:
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    ps = [unit(p) for p in passages]
    return [[sum(a * b for a, b in zip(unit(s), p, strict=True)) for p in ps] for s in sentences]


async def text_deltas(events: AsyncIterator[Any]) -> AsyncIterator[str]:
    """The answer's text deltas from a model-service stream."""
    from model_layer.types import BlockDelta

    async for event in events:
        if isinstance(event, BlockDelta) and event.text:
            yield event.text
