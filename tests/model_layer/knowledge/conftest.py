"""A real gateway for knowledge-base tests: the fake chat model (deterministic answers), the real
local MiniLM embeddings, embedded Chroma in the test's home, real SigV4 via boto3 on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.model_layer.gateway_harness import Gateway, build_gateway, local_minilm
from tests.model_layer.live import serve_app

CHAT_MODEL = "fake.echo-v1:0"
EMBED_MODEL = "amazon.minilm-l6-v2:0"
EMBED_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{EMBED_MODEL}"
ROLE_ARN = "arn:aws:iam::123456789012:role/strata-kb"


def kb_models(**fake: Any) -> dict[str, Any]:
    return {
        "providers": [{"name": "fake", "type": "fake", **fake}, {"name": "local", "type": "local"}],
        "models": [
            {"id": CHAT_MODEL, "provider": "fake", "provider_name": "Strata"},
            local_minilm(EMBED_MODEL),
        ],
        "retry": {"max_attempts": 1},
    }


@dataclass
class KbGateway:
    gw: Gateway
    url: str
    agent: Any  # boto3 bedrock-agent client
    runtime: Any  # boto3 bedrock-agent-runtime client
    home: Path

    def clients_for(self, tenant: str) -> tuple[Any, Any]:
        keys = self.gw.issue_keys(tenant)
        return boto_clients(self.url, keys)


def boto_clients(url: str, keys: Any) -> tuple[Any, Any]:
    session = boto3.Session(
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        region_name="us-east-1",
    )
    config = Config(retries={"max_attempts": 1}, read_timeout=120)
    return (
        session.client("bedrock-agent", endpoint_url=url, config=config),
        session.client("bedrock-agent-runtime", endpoint_url=url, config=config),
    )


@pytest.fixture
def docs_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    monkeypatch.setenv("STRATA_KB_FOLDER_ROOTS", str(root))
    monkeypatch.setenv("STRATA_KB_JOB_LEASE_S", "2")
    monkeypatch.setenv("STRATA_KB_MAX_FILE_BYTES", "200000")
    return root


@pytest.fixture
def kb_gateway(tmp_path, docs_root) -> Iterator[KbGateway]:
    home = tmp_path / "home"
    gw = build_gateway(home, kb_models())
    with serve_app(gw.app) as url:
        agent, runtime = boto_clients(url, gw.keys)
        yield KbGateway(gw, url, agent, runtime, home)


def create_kb(agent: Any, name: str = "docs") -> str:
    kb = agent.create_knowledge_base(
        name=name,
        roleArn=ROLE_ARN,
        knowledgeBaseConfiguration={
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": EMBED_ARN},
        },
    )["knowledgeBase"]
    return kb["knowledgeBaseId"]


def folder_source(folder: Path, **extra: Any) -> dict[str, Any]:
    return {
        "type": "WEB",
        "webConfiguration": {
            "sourceConfiguration": {"urlConfiguration": {"seedUrls": [{"url": folder.as_uri()}]}}
        },
        **extra,
    }


def wait_job(agent: Any, kb_id: str, ds_id: str, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    """Poll GetIngestionJob until the job ends (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = agent.get_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)[
            "ingestionJob"
        ]
        if job["status"] in ("COMPLETE", "FAILED", "STOPPED"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"ingestion job still {job['status']} after {timeout_s} s")
        time.sleep(0.05)


def ingest(agent: Any, kb_id: str, ds_id: str) -> dict[str, Any]:
    job = agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)["ingestionJob"]
    return wait_job(agent, kb_id, ds_id, job["ingestionJobId"])
