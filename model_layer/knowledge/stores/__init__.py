"""Vector stores: the :class:`VectorStore` protocol and the registry that loads plug-ins.

A store keeps each knowledge base in a collection of its own (named by
:func:`collection_name`: the tenant's hash and the KB id), so no filter can reach another KB's or
tenant's chunks. Stores register in the ``strata.vector_stores`` entry-point group; the built-in
Chroma store does too. A plug-in is an object with ``name`` and ``create(settings, home) -> VectorStore``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from model_layer.plugins import VECTOR_STORES, load
from strata.errors import ConfigurationError


@dataclass
class Chunk:
    chunk_id: str
    text: str  # what is embedded and indexed
    embedding: list[float]
    metadata: dict[str, Any]  # str | int | float | bool | list[str] values


@dataclass
class Hit:
    chunk_id: str
    text: str
    metadata: dict[str, Any]
    score: float  # higher is better, in [0, 1]


class VectorStore(Protocol):
    def upsert(self, collection: str, chunks: list[Chunk]) -> None: ...

    def delete_where(self, collection: str, where: dict[str, Any]) -> None:
        """Delete the chunks whose metadata matches ``where`` (the store's native equality filter)."""
        ...

    def query(
        self,
        collection: str,
        embedding: list[float],
        k: int,
        where: dict[str, Any] | None = None,
        ids: list[str] | None = None,
    ) -> list[Hit]:
        """The ``k`` nearest chunks, among those matching ``where`` (native filter) and in ``ids``."""
        ...

    def all_chunks(self, collection: str) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """ids, texts and metadata of every chunk (the lexical index is built from them)."""
        ...

    def count(self, collection: str) -> int: ...

    def drop(self, collection: str) -> None: ...


class VectorStorePlugin(Protocol):
    name: str

    def create(self, settings: Any, home: Path) -> VectorStore: ...


def collection_name(tenant_id: str, kb_id: str) -> str:
    tenant = hashlib.sha256(tenant_id.encode()).hexdigest()[:16]
    return f"kb-{tenant}-{kb_id.lower()}"


def open_vector_store(settings: Any, home: Path) -> VectorStore:
    plugins = load(VECTOR_STORES)
    plugin = plugins.get(settings.vector_store)
    if plugin is None:
        raise ConfigurationError(
            f"unknown vector store {settings.vector_store!r}",
            hint=f"STRATA_KB_VECTOR_STORE must be one of: {', '.join(sorted(plugins)) or '(none)'}",
        )
    return plugin.create(settings, home)
