"""The lexical side of HYBRID search: a BM25 index (bm25s) per knowledge base, built from the
vector store's chunks and rebuilt when the KB's ``index_version`` moves (any replica's ingestion
bumps it), plus reciprocal-rank fusion.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RRF_K = 60  # the constant of Cormack et al.'s reciprocal-rank fusion


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
        import bm25s

        if self.retriever is None or not self.ids:
            return []
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False, return_ids=False)
        if not tokens or not tokens[0]:
            return []
        k = min(k, len(self.ids))
        weight = mask.astype(np.float32) if mask is not None else None
        rows, scores = self.retriever.retrieve(
            [tokens[0]], k=k, show_progress=False, weight_mask=weight, n_threads=1
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
        tokens = bm25s.tokenize(texts, stopwords="en", show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
    return LexicalIndex(version, ids, texts, metas, retriever)


def fuse(rankings: list[list[str]], k: int) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion of several rankings (ids, best first); scores scaled to [0, 1]."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking, 1):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank)
    best = len(rankings) / (RRF_K + 1)
    ordered = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:k]
    return [(cid, score / best) for cid, score in ordered]
