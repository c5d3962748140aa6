"""Models the guardrail policies share, loaded once per gateway and only when a policy needs them.

The local MiniLM sentence embeddings (:mod:`infrastructure.runtime.embeddings`, int8 ONNX from a
PyPI wheel, no download) serve denied topics, contextual grounding and the content classifiers'
features; the classifiers' trained heads ship in ``model_layer/guardrails/data`` (see its
PROVENANCE.md). Loading is lazy and thread-safe: a guardrail with only word or PII policies
never loads a model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

_CACHE_TEXTS = 4096


class GuardrailResources:
    def __init__(self, embedder: Any = None, classifier: Any = None):
        self._embedder = embedder
        self._classifier = classifier
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def embedder(self) -> Any:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    from infrastructure.runtime.embeddings import EmbeddingEngine

                    self._embedder = EmbeddingEngine()
        return self._embedder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (rows) for ``texts``.

        Recently embedded texts are reused: the topic, content and grounding policies of one
        evaluation embed the same windows, and a conversation's earlier turns come back each call.
        """
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._cache_lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            vectors = np.asarray(self.embedder().embed(missing), dtype=np.float32)
            known.update(zip(missing, vectors, strict=True))
        with self._cache_lock:
            for t in dict.fromkeys(texts):
                self._cache[t] = known[t]
                self._cache.move_to_end(t)
            while len(self._cache) > _CACHE_TEXTS:
                self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def classifier(self) -> Any:
        if self._classifier is None:
            with self._lock:
                if self._classifier is None:
                    from model_layer.guardrails.classifier import ContentClassifier

                    self._classifier = ContentClassifier.load()
        return self._classifier
