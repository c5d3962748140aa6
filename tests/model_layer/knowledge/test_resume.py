"""Ingestion survives ``kill -9``: a real ``strata serve`` process is killed mid-job, a new one
starts on the same home, takes the job over when its lease runs out, and finishes it with every
chunk present exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.model_layer.knowledge.conftest import EMBED_MODEL, boto_clients, create_kb, folder_source, wait_job
from tests.model_layer.knowledge.docs import write

DOCS = 300
CONFIG = f"""
[retry]
max_attempts = 1

[[providers]]
name = "fake"
type = "fake"

[[providers]]
name = "local"
type = "local"

[[models]]
id = "fake.echo-v1:0"
provider = "fake"

[[models]]
id = "{EMBED_MODEL}"
provider = "local"
upstream = "all-minilm-l6-v2"
kind = "embedding"
native_format = "titan-embed"
streaming = false
context_window = 256
"""
STRATA = Path(sys.executable).with_name("strata")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(env: dict[str, str], config: Path, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(STRATA), "serve", "--config", str(config), "--port", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"strata serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def _stats(agent, kb_id, ds_id, job_id) -> dict:
    return agent.get_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)[
        "ingestionJob"
    ]


@pytest.mark.skipif(not STRATA.exists(), reason="the strata console script is not installed")
def test_kill_9_mid_job_then_restart_completes_without_loss_or_duplicates(tmp_path):
    home, docs = tmp_path / "home", tmp_path / "docs"
    for i in range(DOCS):
        write(docs, f"doc{i:04d}.txt", f"Document {i} is about subject {i % 23} and part number {i * 13}.")
    config = tmp_path / "strata.toml"
    config.write_text(CONFIG)
    env = {
        **os.environ,
        "STRATA_HOME": str(home),
        "STRATA_KB_FOLDER_ROOTS": str(docs),
        "STRATA_KB_JOB_LEASE_S": "1",
        "STRATA_KB_EMBED_BATCH": "4",  # many small batches: the kill lands mid-job
    }
    keys = json.loads(
        subprocess.run(
            [str(STRATA), "keys", "create", "--tenant", "acme", "--json"],
            env=env,
            capture_output=True,
            check=True,
        ).stdout
    )
    port, log = _free_port(), tmp_path / "serve.log"

    class Keys:
        access_key_id, secret_access_key = keys["accessKeyId"], keys["secretAccessKey"]

    proc = _start(env, config, port, log)
    try:
        agent, _ = boto_clients(f"http://127.0.0.1:{port}", Keys)
        kb_id = create_kb(agent)
        ds_id = agent.create_data_source(
            knowledgeBaseId=kb_id, name="d", dataSourceConfiguration=folder_source(docs)
        )["dataSource"]["dataSourceId"]
        job_id = agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)["ingestionJob"][
            "ingestionJobId"
        ]
        deadline = time.monotonic() + 120
        while _stats(agent, kb_id, ds_id, job_id)["statistics"]["numberOfNewDocumentsIndexed"] < 20:
            assert time.monotonic() < deadline, "the job made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        before = _stats
        proc = _start(env, config, port, log)
        agent, _ = boto_clients(f"http://127.0.0.1:{port}", Keys)
        interrupted = before(agent, kb_id, ds_id, job_id)
        assert interrupted["status"] in ("STARTING", "IN_PROGRESS"), interrupted
        assert interrupted["statistics"]["numberOfNewDocumentsIndexed"] < DOCS  # the kill was mid-job
        job = wait_job(agent, kb_id, ds_id, job_id, timeout_s=180)
        assert job["status"] == "COMPLETE", job
        assert job["statistics"]["numberOfNewDocumentsIndexed"] == DOCS
        assert job["statistics"]["numberOfDocumentsFailed"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    import chromadb
    from chromadb.config import Settings

    from model_layer.knowledge.indexing import chunk_id
    from model_layer.knowledge.stores import collection_name

    client = chromadb.PersistentClient(
        path=str(home / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    stored = client.get_collection(collection_name("acme", kb_id)).get(include=["metadatas"])
    uris = [m["x-amz-bedrock-kb-source-uri"] for m in stored["metadatas"]]
    assert len(uris) == DOCS and len(set(uris)) == DOCS  # nothing lost, nothing twice
    expected = {chunk_id(ds_id, (docs / f"doc{i:04d}.txt").resolve().as_uri(), 0) for i in range(DOCS)}
    assert set(stored["ids"]) == expected
