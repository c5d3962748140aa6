"""How many CPU threads the local engine gives llama.cpp when none are configured."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import pytest

from infrastructure.runtime import engine as engine_module
from infrastructure.runtime.engine import ChatEngine, EngineConfig, default_threads, usable_cpus
from infrastructure.runtime.settings import RuntimeSettings


@pytest.mark.parametrize(
    ("cpus", "threads"),
    [(1, 1), (2, 1), (3, 2), (4, 3), (5, 3), (6, 3), (8, 4), (16, 8), (64, 32)],
)
def test_default_leaves_cores_to_the_rest_of_the_host(cpus, threads):
    assert default_threads(cpus) == threads


def test_default_never_decreases_as_cpus_grow():
    counts = [default_threads(n) for n in range(1, 129)]
    assert counts == sorted(counts)
    assert all(1 <= c < max(n, 2) for n, c in zip(range(1, 129), counts, strict=True))


def test_cpu_count_is_used_where_there_is_no_affinity_mask(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert usable_cpus() == 2
    assert default_threads() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one thread
    assert default_threads() == 1


def test_affinity_mask_wins_over_the_cpu_count(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert default_threads() == 3


class _Params:
    def __init__(self):
        self.model = SimpleNamespace(path=None)
        self.cpuparams = SimpleNamespace(n_threads=-1)
        self.cpuparams_batch = SimpleNamespace(n_threads=-1)


class _Server:
    listening_address = "http://127.0.0.1:1"

    def __init__(self, params):
        self.params = params


@pytest.fixture
def fake_llama(monkeypatch):
    """xllamacpp replaced by a recorder: the engine's wiring without loading a model."""
    monkeypatch.setitem(sys.modules, "xllamacpp", SimpleNamespace(CommonParams=_Params, Server=_Server))
    monkeypatch.setattr(engine_module, "usable_cpus", lambda: 2)


def _threads(engine: ChatEngine) -> tuple[int, int]:
    params = engine._server.params
    engine._http.close()
    return params.cpuparams.n_threads, params.cpuparams_batch.n_threads


def test_engine_uses_the_default_for_decode_and_prefill(fake_llama):
    assert _threads(ChatEngine(EngineConfig())) == (1, 1)


def test_an_explicit_setting_overrides_the_default(fake_llama, monkeypatch):
    assert _threads(ChatEngine(EngineConfig(n_threads=2))) == (2, 2)
    monkeypatch.setenv("STRATA_THREADS", "4")
    config = engine_module.engine_config_from(RuntimeSettings())
    assert _threads(ChatEngine(config)) == (4, 4)
