"""Ingestion jobs through boto3: incremental re-ingestion by content hash, failures counted with
reasons, S3 data sources on moto's server, chunking strategies, stop and delete mid-job."""

from __future__ import annotations

import socket
import time

import boto3
import pytest

from tests.model_layer.knowledge.conftest import create_kb, folder_source, ingest, wait_job
from tests.model_layer.knowledge.docs import write, write_corpus


def _ds(agent, kb_id, configuration, **extra) -> str:
    return agent.create_data_source(
        knowledgeBaseId=kb_id, name="ds", dataSourceConfiguration=configuration, **extra
    )["dataSource"]["dataSourceId"]


def _sources(runtime, kb_id, text="anything", n=50, flt=None) -> set[str]:
    search = {"numberOfResults": n, **({"filter": flt} if flt else {})}
    results = runtime.retrieve(
        knowledgeBaseId=kb_id,
        retrievalQuery={"text": text},
        retrievalConfiguration={"vectorSearchConfiguration": search},
    )["retrievalResults"]
    return {r["metadata"]["x-amz-bedrock-kb-source-uri"].rsplit("/", 1)[-1] for r in results}


def test_reingestion_touches_only_what_changed_and_counts_failures(kb_gateway, docs_root):
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    write_corpus(docs_root)
    kb_id = create_kb(agent)
    ds_id = _ds(agent, kb_id, folder_source(docs_root))
    first = ingest(agent, kb_id, ds_id)["statistics"]
    assert first["numberOfNewDocumentsIndexed"] == 6

    again = ingest(agent, kb_id, ds_id)
    assert again["status"] == "COMPLETE"
    assert again["statistics"]["numberOfNewDocumentsIndexed"] == 0
    assert again["statistics"]["numberOfModifiedDocumentsIndexed"] == 0

    write(
        docs_root,
        "volcanoes.txt",
        "Stromboli erupts every few minutes and is called the lighthouse of the sea.",
    )
    (docs_root / "sourdough.md").unlink()
    (docs_root / "sourdough.md.metadata.json").unlink()
    sidecar = docs_root / "penguins.html.metadata.json"
    sidecar.write_text('{"metadataAttributes": {"topic": "zoology", "year": 2023}}')
    write(docs_root, "notes.txt", "Owls hunt at night using silent feathers.")
    (docs_root / "setup.exe").write_bytes(b"MZ\x90\x00binary")
    (docs_root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    write(docs_root, "huge.txt", "word " * 60_000)  # 300 kB, over STRATA_KB_MAX_FILE_BYTES (200 kB)
    (docs_root / "empty.md").write_text("   \n")
    job = ingest(agent, kb_id, ds_id)
    stats = job["statistics"]
    assert job["status"] == "COMPLETE"  # failures never abort a job
    assert stats["numberOfDocumentsScanned"] == 10
    assert stats["numberOfNewDocumentsIndexed"] == 1  # notes.txt
    assert stats["numberOfModifiedDocumentsIndexed"] == 1  # volcanoes.txt
    assert stats["numberOfMetadataDocumentsModified"] == 1  # penguins: only its sidecar changed
    assert stats["numberOfDocumentsDeleted"] == 1  # sourdough.md
    assert stats["numberOfDocumentsFailed"] == 4
    reasons = "\n".join(job["failureReasons"])
    assert "setup.exe: Unsupported file type .exe" in reasons
    assert "broken.pdf: The pdf file could not be parsed" in reasons
    assert "huge.txt: The file is 300000 bytes, over the 200000-byte limit" in reasons
    assert "empty.md: The document contains no text" in reasons
    zoology = {"equals": {"key": "topic", "value": "zoology"}}
    assert _sources(runtime, kb_id, flt=zoology) == {"penguins.html"}
    found = _sources(runtime, kb_id)
    assert "sourdough.md" not in found and {"notes.txt", "volcanoes.txt"} <= found
    top = runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "Stromboli lighthouse"})[
        "retrievalResults"
    ]
    assert "Stromboli" in top[0]["content"]["text"]
    assert all("Etna" not in r["content"]["text"] for r in top)  # the old version is gone
    jobs = agent.list_ingestion_jobs(knowledgeBaseId=kb_id, dataSourceId=ds_id)["ingestionJobSummaries"]
    assert len(jobs) == 3 and {j["status"] for j in jobs} == {"COMPLETE"}
    assert jobs[0]["ingestionJobId"] == job["ingestionJobId"]  # newest first by default


@pytest.mark.parametrize(
    "chunking",
    [
        {
            "chunkingStrategy": "FIXED_SIZE",
            "fixedSizeChunkingConfiguration": {"maxTokens": 20, "overlapPercentage": 10},
        },
        {
            "chunkingStrategy": "HIERARCHICAL",
            "hierarchicalChunkingConfiguration": {
                "levelConfigurations": [{"maxTokens": 60}, {"maxTokens": 20}],
                "overlapTokens": 5,
            },
        },
        {
            "chunkingStrategy": "SEMANTIC",
            "semanticChunkingConfiguration": {
                "maxTokens": 40,
                "bufferSize": 0,
                "breakpointPercentileThreshold": 50,
            },
        },
        {"chunkingStrategy": "NONE"},
    ],
    ids=lambda c: c["chunkingStrategy"],
)
def test_chunking_strategies(kb_gateway, docs_root, chunking):
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    text = (
        "Bees dance to tell each other where flowers are. The waggle dance points towards the sun. "
        "Honey is stored in wax cells. Glaciers carve valleys over thousands of years. Moraines are the "
        "rock piles glaciers leave behind. Ice ages came and went many times."
    )
    write(docs_root, "nature.txt", text)
    kb_id = create_kb(agent)
    ds_id = _ds(
        agent,
        kb_id,
        folder_source(docs_root),
        vectorIngestionConfiguration={"chunkingConfiguration": chunking},
    )
    assert ingest(agent, kb_id, ds_id)["status"] == "COMPLETE"
    results = runtime.retrieve(
        knowledgeBaseId=kb_id,
        retrievalQuery={"text": "what do glaciers leave behind"},
        retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 10}},
    )["retrievalResults"]
    top = results[0]["content"]["text"]
    assert "Moraines" in top
    strategy = chunking["chunkingStrategy"]
    if strategy == "NONE":
        assert len(results) == 1 and top == text
    elif strategy == "HIERARCHICAL":
        assert len(top) > 100  # the parent chunk comes back, not the 20-token child
        assert len({r["content"]["text"] for r in results}) == len(results)  # parents not repeated
    else:
        assert len(results) > 1 and "Bees" not in top


@pytest.fixture
def moto_s3(monkeypatch):
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("STRATA_KB_S3_ENDPOINT_URL", url)  # read when the gateway starts
    try:
        yield boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    finally:
        server.stop()


def test_s3_prefix_on_moto_server(moto_s3, kb_gateway, tmp_path):
    s3 = moto_s3
    s3.create_bucket(Bucket="kb-docs")
    corpus = write_corpus(tmp_path / "staging")
    for name, path in corpus.items():
        s3.put_object(Bucket="kb-docs", Key=f"handbook/{name}", Body=path.read_bytes())
        sidecar = path.with_name(path.name + ".metadata.json")
        s3.put_object(Bucket="kb-docs", Key=f"handbook/{name}.metadata.json", Body=sidecar.read_bytes())
    s3.put_object(Bucket="kb-docs", Key="other/ignored.txt", Body=b"Outside the inclusion prefix.")
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    kb_id = create_kb(agent)
    config = {
        "type": "S3",
        "s3Configuration": {"bucketArn": "arn:aws:s3:::kb-docs", "inclusionPrefixes": ["handbook/"]},
    }
    ds_id = _ds(agent, kb_id, config)
    job = ingest(agent, kb_id, ds_id)
    assert job["status"] == "COMPLETE", job
    assert job["statistics"]["numberOfNewDocumentsIndexed"] == 6
    assert job["statistics"]["numberOfMetadataDocumentsScanned"] == 6
    top = runtime.retrieve(
        knowledgeBaseId=kb_id,
        retrievalQuery={"text": "infrared observatory mirror"},
        retrievalConfiguration={
            "vectorSearchConfiguration": {"filter": {"equals": {"key": "topic", "value": "astronomy"}}}
        },
    )["retrievalResults"][0]
    assert top["location"] == {"type": "S3", "s3Location": {"uri": "s3://kb-docs/handbook/telescope.pdf"}}
    # an object changes in S3: only it is re-indexed (its ETag moved)
    s3.put_object(Bucket="kb-docs", Key="handbook/volcanoes.txt", Body=b"Mount Fuji last erupted in 1707.")
    s3.delete_object(Bucket="kb-docs", Key="handbook/rates.csv")
    stats = ingest(agent, kb_id, ds_id)["statistics"]
    assert stats["numberOfModifiedDocumentsIndexed"] == 1 and stats["numberOfDocumentsDeleted"] == 1
    assert stats["numberOfNewDocumentsIndexed"] == 0


def _many_docs(folder, n: int) -> None:
    for i in range(n):
        write(folder, f"doc{i:04d}.txt", f"Document number {i} talks about topic {i % 17} and item {i * 7}.")


def test_stop_ingestion_job(kb_gateway, docs_root, monkeypatch):
    _many_docs(docs_root, 400)
    agent = kb_gateway.agent
    kb_id = create_kb(agent)
    ds_id = _ds(agent, kb_id, folder_source(docs_root))
    job = agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)["ingestionJob"]
    with pytest.raises(agent.exceptions.ConflictException):  # one job at a time per data source
        agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)
    stopped = agent.stop_ingestion_job(
        knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job["ingestionJobId"]
    )
    assert stopped["ingestionJob"]["status"] in ("STOPPING", "STOPPED")
    final = wait_job(agent, kb_id, ds_id, job["ingestionJobId"])
    assert final["status"] == "STOPPED"
    assert final["statistics"]["numberOfNewDocumentsIndexed"] < 400
    with pytest.raises(agent.exceptions.ConflictException):
        agent.stop_ingestion_job(
            knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job["ingestionJobId"]
        )
    # a new job picks up what the stopped one did not index
    assert (
        ingest(agent, kb_id, ds_id)["statistics"]["numberOfNewDocumentsIndexed"]
        == 400 - final["statistics"]["numberOfNewDocumentsIndexed"]
    )


def test_deleting_a_knowledge_base_mid_ingestion_stops_the_job_cleanly(kb_gateway, docs_root):
    _many_docs(docs_root, 400)
    agent = kb_gateway.agent
    kb_id = create_kb(agent)
    ds_id = _ds(agent, kb_id, folder_source(docs_root))
    job_id = agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)["ingestionJob"][
        "ingestionJobId"
    ]
    deadline = time.monotonic() + 60
    while (
        agent.get_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)[
            "ingestionJob"
        ]["statistics"]["numberOfNewDocumentsIndexed"]
        == 0
    ):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    agent.delete_knowledge_base(knowledgeBaseId=kb_id)
    with pytest.raises(agent.exceptions.ResourceNotFoundException):
        agent.get_knowledge_base(knowledgeBaseId=kb_id)
    knowledge = kb_gateway.gw.app.state.knowledge
    deadline = time.monotonic() + 30
    while knowledge.runner._tasks:  # the runner lets go of the job at its next batch
        assert time.monotonic() < deadline, "the job kept running after its KB was deleted"
        time.sleep(0.02)
    names = [c.name for c in knowledge.vectors.client.list_collections()]
    assert not any(kb_id.lower() in name for name in names)  # no orphaned collection
