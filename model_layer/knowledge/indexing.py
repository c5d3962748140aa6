"""One document's way into a knowledge base: read → parse → metadata → chunk → embed → store.

Embeddings go through the gateway's :class:`~model_layer.service.ModelService` (metered to the
tenant, within its limits), in batches across documents. A document's old chunks are deleted
before its new ones are written under deterministic ids, so redoing a document after a crash
neither loses nor duplicates chunks.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from model_layer.knowledge.chunking import ChunkText, chunk
from model_layer.knowledge.parsing import DocumentError, parse, parse_metadata
from model_layer.knowledge.retrieval import CHUNK_ID, DATA_SOURCE_ID, PARENT, SOURCE_URI
from model_layer.knowledge.stores import Chunk, VectorStore
from model_layer.types import Tenant

_MAX_CHUNKS_PER_DOCUMENT = 20_000


@dataclass
class Prepared:
    uri: str
    chunks: list[ChunkText]
    attributes: dict[str, Any]
    vectors: list[list[float]] = field(default_factory=list)


def chunk_id(data_source_id: str, uri: str, n: int) -> str:
    return hashlib.sha256(f"{data_source_id}\0{uri}\0{n}".encode()).hexdigest()[:32]


def clean_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """What a vector store can hold: scalars and non-empty string lists; reserved keys dropped."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if key.startswith(("x-amz-bedrock-kb-", "x-strata-")) or value is None:
            continue
        if isinstance(value, list) and not value:
            continue
        out[key] = value
    return out


class Indexer:
    """Prepares and writes documents for one knowledge base's data source."""

    def __init__(self, models: Any, vectors: VectorStore, collection: str, kb: Any, ds: Any, tenant: Tenant):
        self.models, self.vectors, self.collection = models, vectors, collection
        self.kb, self.ds, self.tenant = kb, ds, tenant

    async def embed(self, texts: list[str]) -> list[list[float]]:
        result = await self.models.embed(self.tenant, self.kb.embedding_model_id, texts)
        return result.vectors

    async def prepare(
        self, uri: str, name: str, data: bytes, metadata: bytes | dict[str, Any] | None, max_bytes: int
    ) -> Prepared:
        """Parse and chunk; :class:`DocumentError` says why a document cannot be indexed."""
        if len(data) > max_bytes:
            raise DocumentError(f"The file is {len(data)} bytes, over the {max_bytes}-byte limit")
        text = await asyncio.to_thread(parse, name, data)
        attributes = parse_metadata(metadata) if isinstance(metadata, bytes) else metadata or {}
        chunks = await chunk(text, self.ds.chunking, self.embed)
        if len(chunks) > _MAX_CHUNKS_PER_DOCUMENT:
            raise DocumentError(f"The document has {len(chunks)} chunks, over {_MAX_CHUNKS_PER_DOCUMENT}")
        return Prepared(uri, chunks, clean_attributes(attributes))

    async def write(self, batch: list[Prepared], embed_batch: int) -> None:
        """Embed every chunk of ``batch`` and replace each document's chunks in the store."""
        texts = [c.text for p in batch for c in p.chunks]
        vectors: list[list[float]] = []
        for i in range(0, len(texts), embed_batch):
            vectors += await self.embed(texts[i : i + embed_batch])
        at = 0
        for p in batch:
            p.vectors, at = vectors[at : at + len(p.chunks)], at + len(p.chunks)
        await asyncio.to_thread(self._store, batch)

    def _store(self, batch: list[Prepared]) -> None:
        chunks: list[Chunk] = []
        for p in batch:
            self.forget(p.uri)
            for n, (piece, vector) in enumerate(zip(p.chunks, p.vectors, strict=True)):
                cid = chunk_id(self.ds.data_source_id, p.uri, n)
                meta = {
                    **p.attributes,
                    SOURCE_URI: p.uri,
                    CHUNK_ID: cid,
                    DATA_SOURCE_ID: self.ds.data_source_id,
                }
                if piece.parent:
                    meta[PARENT] = piece.parent
                chunks.append(Chunk(cid, piece.text, vector, meta))
        if chunks:
            self.vectors.upsert(self.collection, chunks)

    def forget(self, uri: str) -> None:
        """Delete a document's chunks (blocking)."""
        self.vectors.delete_where(
            self.collection, {"$and": [{DATA_SOURCE_ID: self.ds.data_source_id}, {SOURCE_URI: uri}]}
        )
