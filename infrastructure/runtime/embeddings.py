"""Local sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) with onnxruntime + tokenizers.

384-dimensional vectors, mean-pooled over the attention mask and L2-normalised, exactly as
sentence-transformers computes them for this model; cosine similarity is then a dot product.
The ONNX file is sha256-verified before it is loaded (see :mod:`infrastructure.runtime.weights`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infrastructure.runtime.engine import default_threads
from infrastructure.runtime.errors import InvalidRequestError
from infrastructure.runtime.weights import (
    EMBEDDING_TOKENIZER,
    ModelFileError,
    embedding_model_files,
    packaged_file,
    verify_sha256,
)

MODEL_ID = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384
MAX_TOKENS = 256  # the model was trained with 256-token inputs; longer text is truncated


@dataclass(frozen=True)
class EmbeddingResult:
    """Vectors in input order plus the tokens each input used (after truncation)."""

    vectors: list[list[float]]
    token_counts: list[int]

    @property
    def total_tokens(self) -> int:
        return sum(self.token_counts)


class EmbeddingEngine:
    """Embed texts in batches; thread-safe (onnxruntime sessions allow concurrent ``run``)."""

    model_id = MODEL_ID
    dimensions = DIMENSIONS

    def __init__(
        self,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        *,
        sha256: str | None = None,
        batch_size: int = 32,
        n_threads: int | None = None,
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        if model_path is None:
            model, tokenizer = embedding_model_files()
        else:
            # Another export of the same architecture; verified when the caller pins a digest.
            model = Path(model_path)
            tokenizer = Path(tokenizer_path) if tokenizer_path else packaged_file(*EMBEDDING_TOKENIZER)
            if not model.is_file():
                raise ModelFileError(f"embedding model not found: {model}")
            if sha256:
                verify_sha256(model, sha256)
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        # The llama.cpp engine's default (a core left free on small hosts): measured with 32 texts
        # on a 2-core VM, 1 thread took 312 ms a batch against 393 ms for 2 with other work
        # running, and 428 against 491 ms with one core busy.
        options.intra_op_num_threads = n_threads or default_threads()
        self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.batch_size = batch_size
        self._lock = threading.Lock()  # tokenizers' padding/truncation settings are shared state

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One 384-d unit vector per text, in order."""
        return self.embed_with_usage(texts).vectors

    def embed_with_usage(self, texts: Sequence[str]) -> EmbeddingResult:
        """Vectors and per-text token counts (for usage metering)."""
        texts = _check_texts(texts)
        vectors: list[list[float]] = []
        counts: list[int] = []
        for start in range(0, len(texts), self.batch_size):
            batch_vectors, batch_counts = self._embed_batch(texts[start : start + self.batch_size])
            vectors.extend(batch_vectors.tolist())
            counts.extend(batch_counts)
        return EmbeddingResult(vectors, counts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text including [CLS]/[SEP], after truncation to 256."""
        texts = _check_texts(texts)
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        return [int(sum(e.attention_mask)) for e in encodings]

    def _embed_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        # Mean pooling over real tokens only: padding must not dilute short texts.
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None), mask.sum(axis=1).astype(int).tolist()

    def close(self) -> None:
        """Nothing native to free beyond the session; present for interface symmetry."""


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise InvalidRequestError("embed() takes a list of strings, not one string")
    items = list(texts)
    if not items:
        raise InvalidRequestError("nothing to embed: the input list is empty")
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidRequestError(f"input[{index}] must be a string, not {type(text).__name__}")
    return items
