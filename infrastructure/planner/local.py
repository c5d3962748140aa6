"""The planner's decode model applied to this machine: measured memory bandwidth ÷ bytes per token.

``measure_host_bandwidth`` times a streaming read of a large array (best of N, so the figure is
the machine's ceiling, as the spec-sheet bandwidth is for accelerators).
``predict_local_decode_tps`` assumes one decoded token reads every weight tensor of the GGUF
file once — the tensor data section, found by parsing the GGUF header — except the token
embedding table when the model has a separate output matrix (a lookup reads one row). KV-cache
reads are left out: for short chats on a small model they are a few percent of the weights.
Both are ceilings; ``bench/planner_vs_local.py`` compares them with the local runtime.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from strata.errors import ConfigurationError

_SCALAR = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


def measure_host_bandwidth(size_mib: int = 256, repeats: int = 5) -> float:
    """Host memory read bandwidth in bytes/s: best of ``repeats`` streaming reads of an array.

    The read is a float64 dot product of the array with itself (BLAS streams it once, on all
    cores, as llama.cpp's matrix-vector products do); the array is 8x larger than any cache.
    """
    if size_mib < 16 or repeats < 1:
        raise ConfigurationError("size_mib must be >= 16 and repeats >= 1")
    data = np.ones(size_mib * 1024 * 1024 // 8)
    float(np.dot(data, data))  # fault the pages in before timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.dot(data, data)
        best = min(best, time.perf_counter() - start)
    return data.nbytes / best


@dataclass(frozen=True)
class GgufSummary:
    """What the decode model needs from a GGUF file."""

    path: Path
    file_bytes: int
    tensor_bytes: int  # the tensor data section
    bytes_read_per_token: int  # tensor bytes minus a separate token-embedding table
    tensor_count: int
    architecture: str


class _Reader:
    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh

    def unpack(self, fmt: str) -> int | float | bool:
        size = struct.calcsize(fmt)
        raw = self.fh.read(size)
        if len(raw) != size:
            raise ValueError("truncated header")
        return struct.unpack(fmt, raw)[0]

    def string(self) -> str:
        n = int(self.unpack("<Q"))
        if n > 1 << 24:
            raise ValueError("implausible string length")
        return self.fh.read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> object:
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type, count = int(self.unpack("<I")), int(self.unpack("<Q"))
            if item_type in _SCALAR:  # skip numeric arrays (token scores etc.) without decoding
                self.fh.seek(struct.calcsize(_SCALAR[item_type]) * count, 1)
                return None
            return [self.value(item_type) for _ in range(count)]
        raise ValueError(f"unknown metadata value type {vtype}")


def read_gguf(path: str | Path) -> GgufSummary:
    """Parse a GGUF header (v2/v3) to find the tensor data section and each tensor's size."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return _parse(path, fh)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise ConfigurationError(f"{path} is not a readable GGUF file: {exc}") from None


def _parse(path: Path, fh: BinaryIO) -> GgufSummary:
    if fh.read(4) != b"GGUF":
        raise ValueError("missing GGUF magic")
    r = _Reader(fh)
    version = r.unpack("<I")
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    n_tensors, n_kv = int(r.unpack("<Q")), int(r.unpack("<Q"))
    meta: dict[str, object] = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(int(r.unpack("<I")))
    infos: list[tuple[str, int]] = []
    for _ in range(n_tensors):
        name = r.string()
        n_dims = int(r.unpack("<I"))
        fh.seek(8 * n_dims + 4, 1)  # dims, ggml type
        infos.append((name, int(r.unpack("<Q"))))
    alignment = int(meta.get("general.alignment", 32) or 32)  # type: ignore[arg-type]
    data_start = -(-fh.tell() // alignment) * alignment
    file_bytes = path.stat().st_size
    tensor_bytes = file_bytes - data_start
    # Each tensor's size is the gap to the next offset (alignment padding included).
    ordered = sorted(infos, key=lambda t: t[1])
    ends = [o for _, o in ordered[1:]] + [tensor_bytes]
    sizes = {name: end - off for (name, off), end in zip(ordered, ends, strict=True)}
    per_token = tensor_bytes
    if "output.weight" in sizes and "token_embd.weight" in sizes:
        per_token -= sizes["token_embd.weight"]
    return GgufSummary(
        path=path,
        file_bytes=file_bytes,
        tensor_bytes=tensor_bytes,
        bytes_read_per_token=per_token,
        tensor_count=n_tensors,
        architecture=str(meta.get("general.architecture", "unknown")),
    )


def predict_local_decode_tps(gguf_path: str | Path, bandwidth_bytes_per_s: float) -> float:
    """Bandwidth-bound decode ceiling (tokens/s, one sequence) of a GGUF model on this host."""
    if bandwidth_bytes_per_s <= 0:
        raise ConfigurationError("bandwidth must be positive")
    return bandwidth_bytes_per_s / read_gguf(gguf_path).bytes_read_per_token
