"""The built-in vector store: Chroma, embedded (a persistent directory) or a Chroma server over HTTP.

Chunks are stored with precomputed embeddings and collections are created without an embedding
function: Chroma's default one would download a model at run time. Cosine space, so a hit's
score is ``1 - distance / 2`` (1 = same direction, 0 = opposite).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from model_layer.knowledge.stores import Chunk, Hit

_ADD_BATCH = 4000  # under Chroma's max batch size (5461 on SQLite)


class ChromaStore:
    def __init__(self, client: Any):
        self.client = client
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _collection(self, name: str, create: bool = True) -> Any | None:
        with self._lock:
            found = self._collections.get(name)
            if found is not None:
                return found
            if create:
                found = self.client.get_or_create_collection(
                    name, metadata={"hnsw:space": "cosine"}, embedding_function=None
                )
            else:
                try:
                    found = self.client.get_collection(name, embedding_function=None)
                except Exception:  # chromadb raises NotFoundError / ValueError by version
                    return None
            self._collections[name] = found
            return found

    def upsert(self, collection: str, chunks: list[Chunk]) -> None:
        col = self._collection(collection)
        for i in range(0, len(chunks), _ADD_BATCH):
            part = chunks[i : i + _ADD_BATCH]
            col.upsert(
                ids=[c.chunk_id for c in part],
                embeddings=[c.embedding for c in part],
                documents=[c.text for c in part],
                metadatas=[c.metadata for c in part],
            )

    def delete_where(self, collection: str, where: dict[str, Any]) -> None:
        col = self._collection(collection, create=False)
        if col is not None:
            col.delete(where=where)

    def query(
        self,
        collection: str,
        embedding: list[float],
        k: int,
        where: dict[str, Any] | None = None,
        ids: list[str] | None = None,
    ) -> list[Hit]:
        col = self._collection(collection, create=False)
        if col is None or k <= 0:
            return []
        found = col.query(
            query_embeddings=[embedding],
            n_results=k,
            where=where or None,
            ids=ids,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(cid, text or "", meta or {}, max(0.0, 1.0 - dist / 2))
            for cid, text, meta, dist in zip(
                found["ids"][0],
                found["documents"][0],
                found["metadatas"][0],
                found["distances"][0],
                strict=True,
            )
        ]

    def all_chunks(self, collection: str) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        col = self._collection(collection, create=False)
        if col is None:
            return [], [], []
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        total, page = col.count(), 5000
        for offset in range(0, total, page):
            got = col.get(include=["documents", "metadatas"], limit=page, offset=offset)
            ids += got["ids"]
            texts += [d or "" for d in got["documents"]]
            metas += [m or {} for m in got["metadatas"]]
        return ids, texts, metas

    def count(self, collection: str) -> int:
        col = self._collection(collection, create=False)
        return 0 if col is None else col.count()

    def drop(self, collection: str) -> None:
        with self._lock:
            self._collections.pop(collection, None)
        try:
            self.client.delete_collection(collection)
        except Exception:  # already gone
            return


class ChromaPlugin:
    name = "chroma"

    def create(self, settings: Any, home: Path) -> ChromaStore:
        import chromadb
        from chromadb.config import Settings

        chroma_settings = Settings(anonymized_telemetry=False, allow_reset=False)
        if settings.chroma_url:
            url = urlparse(settings.chroma_url)
            client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or 8000,
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        else:
            path = settings.chroma_path or (home / "chroma")
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        return ChromaStore(client)


PLUGIN = ChromaPlugin()
