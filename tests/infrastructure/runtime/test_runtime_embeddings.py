"""all-MiniLM-L6-v2 int8 ONNX embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from infrastructure.runtime.embeddings import EmbeddingEngine
from infrastructure.runtime.errors import InvalidRequestError
from infrastructure.runtime.weights import ModelFileError


def test_vectors_are_384d_unit_length(embedder):
    vectors = np.array(embedder.embed(["hello world", "a second, longer sentence about embeddings"]))
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_sentences_are_closer_than_unrelated_ones(embedder):
    cat, kitten, stocks = np.array(
        embedder.embed(
            ["A cat sits on the mat.", "A kitten is resting on a rug.", "Stock markets fell sharply today."]
        )
    )
    assert cat @ kitten > 0.5
    assert cat @ kitten > cat @ stocks + 0.3


def test_batched_results_equal_single_results(embedder):
    texts = [f"sentence number {i} with {'padding ' * (i % 5)}words" for i in range(40)]
    batched = np.array(embedder.embed(texts))  # 40 > batch size 32: two batches, padded
    single = np.array([embedder.embed([t])[0] for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_token_counts_include_special_tokens_and_truncate(embedder):
    result = embedder.embed_with_usage(["hello world", "word " * 1000])
    assert result.token_counts == [4, 256]
    assert result.total_tokens == 260
    assert embedder.count_tokens(["hello world"]) == [4]


@pytest.mark.parametrize("bad", [[], "just a string", ["ok", 3]])
def test_bad_input_is_a_clear_error(embedder, bad):
    with pytest.raises(InvalidRequestError):
        embedder.embed(bad)


def test_a_pinned_digest_is_enforced_for_custom_files(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="failed verification"):
        EmbeddingEngine(fake, sha256="0" * 64)
    with pytest.raises(ModelFileError, match="not found"):
        EmbeddingEngine(tmp_path / "absent.onnx")
