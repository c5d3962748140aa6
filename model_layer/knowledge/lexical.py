"""The lexical side of HYBRID search: a BM25 index (bm25s) per knowledge base, built from the
vector store's chunks and rebuilt when the KB's ``index_version`` moves (any replica's ingestion
bumps it); the code-aware tokenizer it indexes with; and the fusion of its scores with the
vectors'.

Fusion (tuned on the tune split of bench/kb.py's labelled set, measured on the held-out rest;
see bench/results/kb.md): a convex combination of the vector score and the BM25 score divided by
the query's best BM25 score, weighted towards the vectors (``DENSE_WEIGHT``), applied only when
BM25 is confident — its best chunk scores at least ``CONFIDENT_MARGIN`` times its second best, as
a product code, a name or a rare term does. A paraphrased question matches many chunks a little
and none clearly; then BM25 has nothing to add and the vectors' order stands. Plain
reciprocal-rank fusion let such weak matches push the right chunk down.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DENSE_WEIGHT = 0.8  # of the vector score ((1 + cosine) / 2); BM25 / best BM25 gets the rest
CONFIDENT_MARGIN = 1.2  # BM25's best / second-best score at which its ranking is trusted
_TOKEN = re.compile(r"[^\W_]+(?:[-./:][^\W_]+)*")  # words joined by - . / : stay together
_PART = re.compile(r"[^\W_]+")


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS  # NLTK's English list (question words too)

    return frozenset(STOPWORDS_EN_PLUS)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without English stopwords or single letters; a token joined by
    ``- . / :`` that holds a digit (a product code ``ST-210``, a version ``4.2.1``, a lot
    ``L23-0917``) also yields itself without separators (``st210``), so a code matches as one rare
    term rather than as common pieces. No stemming: on the tune split it lost more (common words
    such as "charge" and "charging" merging) than it gained."""
    stop = _stopwords()
    out: list[str] = []
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).casefold()):
        word = match.group(0)
        parts = _PART.findall(word)
        if len(parts) > 1 and any(ch.isdigit() for ch in word):
            out.append("".join(parts))
        out += [p for p in parts if p not in stop and (len(p) > 1 or p.isdigit())]
    return out


@dataclass
class LexicalIndex:
    version: int
    ids: list[str]
    texts: list[str]
    metas: list[dict[str, Any]]
    retriever: Any  # bm25s.BM25, None when the KB is empty
    masks: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict)  # filter json -> mask

    def search(self, query: str, k: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        """(row, score) of the best ``k`` chunks with a positive score, among ``mask`` if given."""
        if self.retriever is None or not self.ids:
            return []
        vocab = self.retriever.vocab_dict
        tokens = [t for t in tokenize(query) if t in vocab]
        if not tokens:
            return []
        k = min(k, len(self.ids))
        weight = mask.astype(np.float32) if mask is not None else None
        rows, scores = self.retriever.retrieve(
            [tokens], k=k, show_progress=False, weight_mask=weight, n_threads=1
        )
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]


class LexicalIndexes:
    """The BM25 index of each KB a replica has searched, rebuilt on a version change."""

    def __init__(self, max_kbs: int = 32):
        self._indexes: OrderedDict[str, LexicalIndex] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.max_kbs = max_kbs

    def get(self, collection: str, version: int, store: Any) -> LexicalIndex:
        with self._guard:
            lock = self._locks.setdefault(collection, threading.Lock())
        with lock:  # one build per KB at a time; others wait for it rather than build again
            index = self._indexes.get(collection)
            if index is None or index.version != version:
                index = build(version, *store.all_chunks(collection))
            with self._guard:
                self._indexes[collection] = index
                self._indexes.move_to_end(collection)
                while len(self._indexes) > self.max_kbs:
                    self._indexes.popitem(last=False)
            return index

    def forget(self, collection: str) -> None:
        with self._guard:
            self._indexes.pop(collection, None)


def build(version: int, ids: list[str], texts: list[str], metas: list[dict[str, Any]]) -> LexicalIndex:
    import bm25s

    retriever = None
    if ids:
        retriever = bm25s.BM25()
        retriever.index([tokenize(t) for t in texts], show_progress=False)
    return LexicalIndex(version, ids, texts, metas, retriever)


def confident(scores: list[float]) -> bool:
    """Whether a BM25 ranking (scores, best first) singles out its best chunk."""
    if not scores:
        return False
    return len(scores) == 1 or scores[0] >= CONFIDENT_MARGIN * scores[1]


def fuse(dense: dict[str, float], lexical: dict[str, float]) -> list[tuple[str, float]]:
    """Convex combination of vector scores (in [0, 1]) and BM25 scores, best first; every id of
    either side must have a vector score. BM25 is divided by its best score, so both lie in [0, 1]."""
    best = max(lexical.values(), default=0.0) or 1.0
    fused = {
        cid: DENSE_WEIGHT * score + (1.0 - DENSE_WEIGHT) * lexical.get(cid, 0.0) / best
        for cid, score in dense.items()
    }
    return sorted(fused.items(), key=lambda kv: kv[1], reverse=True)
