"""Retrieval: SEMANTIC (vector store) and HYBRID (vectors + BM25, fused where BM25 is confident:
:mod:`model_layer.knowledge.lexical`), with Bedrock's filters, over one knowledge base's collection.

Chunk metadata carries Bedrock's keys (``x-amz-bedrock-kb-source-uri``, ``…-chunk-id``,
``…-data-source-id``) and the document's attributes; keys starting ``x-strata-`` are internal
(a HIERARCHICAL child's parent text) and never leave the gateway.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from model_layer.knowledge.filters import matches, to_chroma
from model_layer.knowledge.lexical import LexicalIndex, LexicalIndexes, confident, fuse
from model_layer.knowledge.records import RetrievalResult
from model_layer.knowledge.sources import custom_location
from model_layer.knowledge.stores import Hit, VectorStore

SOURCE_URI = "x-amz-bedrock-kb-source-uri"
CHUNK_ID = "x-amz-bedrock-kb-chunk-id"
DATA_SOURCE_ID = "x-amz-bedrock-kb-data-source-id"
PARENT = "x-strata-parent"
_INTERNAL = "x-strata-"
_MAX_MASKS = 16  # filter masks cached per KB


def location_of(uri: str) -> dict[str, Any]:
    if uri.startswith("s3://"):
        return {"type": "S3", "s3Location": {"uri": uri}}
    if uri.startswith("file://"):
        return {"type": "WEB", "webLocation": {"url": uri}}
    return custom_location(uri)


def to_result(hit: Hit) -> RetrievalResult:
    meta = {k: v for k, v in hit.metadata.items() if not k.startswith(_INTERNAL)}
    text = hit.metadata.get(PARENT) or hit.text
    uri = str(hit.metadata.get(SOURCE_URI, ""))
    return RetrievalResult(
        content={"type": "TEXT", "text": text},
        location=location_of(uri),
        score=round(hit.score, 6),
        metadata=meta,
        document_id=uri or None,
    )


def _mask(index: LexicalIndex, flt: dict[str, Any]) -> np.ndarray:
    key = json.dumps(flt, sort_keys=True)
    found = index.masks.get(key)
    if found is None:
        found = np.fromiter((matches(flt, m) for m in index.metas), dtype=bool, count=len(index.metas))
        index.masks[key] = found
        while len(index.masks) > _MAX_MASKS:
            index.masks.popitem(last=False)
    return found


def search(
    vectors: VectorStore,
    lexical: LexicalIndexes,
    collection: str,
    version: int,
    query: str,
    embedding: list[float],
    k: int,
    hybrid: bool,
    flt: dict[str, Any] | None,
) -> list[RetrievalResult]:
    """The ``k`` best chunks (HIERARCHICAL children collapse into their parents). Blocking."""
    where = to_chroma(flt) if flt else None
    index: LexicalIndex | None = None
    allowed_ids: list[str] | None = None
    if hybrid or (flt and where is None):
        index = lexical.get(collection, version, vectors)
    mask = _mask(index, flt) if (index is not None and flt) else None
    if flt and where is None:
        assert index is not None and mask is not None
        allowed_ids = [cid for cid, ok in zip(index.ids, mask, strict=True) if ok]
        if not allowed_ids:
            return []
    fetch = min(max(k * 3, 10), 300)  # room for parents to collapse and for fusion
    hits = vectors.query(collection, embedding, fetch, where, allowed_ids)
    if hybrid and index is not None:
        hits = _fuse(
            hits,
            index,
            query,
            fetch,
            mask,
            lambda ids: vectors.query(collection, embedding, len(ids), None, ids),
        )
    return _collapse(hits, k)


def _fuse(
    hits: list[Hit],
    index: LexicalIndex,
    query: str,
    fetch: int,
    mask: np.ndarray | None,
    score_ids: Callable[[list[str]], list[Hit]],
) -> list[Hit]:
    """BM25's best ``fetch`` chunks fused with the vectors' when BM25 is confident, else ``hits``.

    A chunk BM25 found but the vectors' ``fetch`` did not gets its own vector score
    (``score_ids``: the store scores just those ids), so every candidate is fused on both scores.
    """
    rows = index.search(query, fetch, mask)
    if not confident([score for _, score in rows]):
        return hits
    by_id = {h.chunk_id: h for h in hits}
    missing = [index.ids[row] for row, _ in rows if index.ids[row] not in by_id]
    if missing:
        by_id.update((h.chunk_id, h) for h in score_ids(missing))
    lexical = {index.ids[row]: score for row, score in rows if index.ids[row] in by_id}
    fused = fuse({cid: h.score for cid, h in by_id.items()}, lexical)
    return [Hit(cid, by_id[cid].text, by_id[cid].metadata, score) for cid, score in fused[:fetch]]


def _collapse(hits: list[Hit], k: int) -> list[RetrievalResult]:
    out: list[RetrievalResult] = []
    seen_parents: set[str] = set()
    for hit in hits:
        parent = hit.metadata.get(PARENT)
        if parent:
            if parent in seen_parents:
                continue
            seen_parents.add(parent)
        out.append(to_result(hit))
        if len(out) == k:
            break
    return out
