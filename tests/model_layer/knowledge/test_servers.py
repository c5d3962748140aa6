"""Knowledge bases on the scale-out backends: a real ``chroma run`` server as the vector store and
a real PostgreSQL as the state, driven by boto3 and by langchain-aws's AmazonKnowledgeBasesRetriever."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.model_layer.gateway_harness import build_gateway
from tests.model_layer.knowledge.conftest import boto_clients, create_kb, folder_source, ingest, kb_models
from tests.model_layer.knowledge.docs import write_corpus
from tests.model_layer.live import serve_app
from tests.model_layer.state.pg_server import fresh_database, running_postgres

CHROMA = Path(sys.executable).with_name("chroma")


@pytest.fixture(scope="module")
def postgres_server():
    with running_postgres() as url:
        yield url


@pytest.fixture
def chroma_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "chroma.log").open("wb")
    proc = subprocess.Popen(
        [
            str(CHROMA),
            "run",
            "--path",
            str(tmp_path / "chroma-server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"chroma run did not start: {(tmp_path / 'chroma.log').read_text()[-2000:]}")
        time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.skipif(not CHROMA.exists(), reason="the chroma CLI (chromadb package) is not installed")
def test_chroma_server_and_postgresql_with_boto3_and_langchain(
    tmp_path, docs_root, chroma_server, postgres_server, monkeypatch
):
    from langchain_aws import AmazonKnowledgeBasesRetriever

    monkeypatch.setenv("STRATA_KB_CHROMA_URL", chroma_server)
    monkeypatch.setenv("STRATA_STATE_URL", fresh_database(postgres_server))
    write_corpus(docs_root)
    gw = build_gateway(tmp_path / "home", kb_models())
    with serve_app(gw.app) as url:
        agent, runtime = boto_clients(url, gw.keys)
        kb_id = create_kb(agent)
        ds_id = agent.create_data_source(
            knowledgeBaseId=kb_id, name="f", dataSourceConfiguration=folder_source(docs_root)
        )["dataSource"]["dataSourceId"]
        job = ingest(agent, kb_id, ds_id)
        assert job["status"] == "COMPLETE" and job["statistics"]["numberOfNewDocumentsIndexed"] == 6
        assert not (tmp_path / "home" / "chroma").exists()  # nothing went to an embedded store

        retriever = AmazonKnowledgeBasesRetriever(
            knowledge_base_id=kb_id,
            client=runtime,
            retrieval_config={
                "vectorSearchConfiguration": {"numberOfResults": 2, "overrideSearchType": "HYBRID"}
            },
        )
        docs = retriever.invoke("Is spilled coffee on my laptop covered?")
        assert len(docs) == 2
        assert "warranty" in docs[0].page_content.lower()
        assert docs[0].metadata["location"]["webLocation"]["url"].endswith("warranty.docx")
        assert docs[0].metadata["source_metadata"]["topic"] == "support"
        assert 0 < docs[0].metadata["score"] <= 1

        _other_agent, other_runtime = boto_clients(url, gw.issue_keys("globex"))
        with pytest.raises(other_runtime.exceptions.ResourceNotFoundException):
            other_runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "laptop"})
        agent.delete_knowledge_base(knowledgeBaseId=kb_id)

    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_server.rsplit(":", 1)[1]))
    assert client.list_collections() == []  # the KB's collection went with it
