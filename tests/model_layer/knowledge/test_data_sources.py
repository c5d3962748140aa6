"""Data sources through boto3 (list, update, delete under both deletion policies) and the bad input
the other API tests do not reach: values botocore's own client validation would stop before the
wire (sent here with ``parameter_validation=False``, as any other client could), malformed filter
structure, unknown ingestion jobs, and Rerank, which answers clearly that no reranking model is
served."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.model_layer.knowledge.conftest import create_kb, folder_source, ingest
from tests.model_layer.knowledge.docs import write


def _sources(runtime, kb_id) -> set[str]:
    results = runtime.retrieve(
        knowledgeBaseId=kb_id,
        retrievalQuery={"text": "anything"},
        retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 50}},
    )["retrievalResults"]
    return {r["metadata"]["x-amz-bedrock-kb-source-uri"].rsplit("/", 1)[-1] for r in results}


def test_data_sources_listed_updated_and_deleted_by_policy(kb_gateway, docs_root):
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    write(docs_root / "kept", "owls.txt", "Owls hunt at night using silent feathers.")
    write(docs_root / "dropped", "bees.txt", "Bees dance to tell each other where flowers are.")
    kb_id = create_kb(agent)
    ids = {}
    for name, policy in (("kept", "RETAIN"), ("dropped", "DELETE")):
        ids[name] = agent.create_data_source(
            knowledgeBaseId=kb_id,
            name=name,
            dataSourceConfiguration=folder_source(docs_root / name),
            dataDeletionPolicy=policy,
        )["dataSource"]["dataSourceId"]
        assert ingest(agent, kb_id, ids[name])["status"] == "COMPLETE"
    listed = agent.list_data_sources(knowledgeBaseId=kb_id)["dataSourceSummaries"]
    assert {d["dataSourceId"] for d in listed} == set(ids.values())
    assert _sources(runtime, kb_id) == {"owls.txt", "bees.txt"}

    updated = agent.update_data_source(
        knowledgeBaseId=kb_id,
        dataSourceId=ids["kept"],
        name="kept-renamed",
        description="night birds",
        dataSourceConfiguration=folder_source(docs_root / "kept"),
        dataDeletionPolicy="RETAIN",
    )["dataSource"]
    assert updated["name"] == "kept-renamed" and updated["description"] == "night birds"
    got = agent.get_data_source(knowledgeBaseId=kb_id, dataSourceId=ids["kept"])["dataSource"]
    assert got["name"] == "kept-renamed"
    with pytest.raises(agent.exceptions.ValidationException) as exc:  # the type is fixed
        agent.update_data_source(
            knowledgeBaseId=kb_id,
            dataSourceId=ids["kept"],
            name="kept",
            dataSourceConfiguration={"type": "CUSTOM"},
        )
    assert "type" in exc.value.response["Error"]["Message"]

    deleted = agent.delete_data_source(knowledgeBaseId=kb_id, dataSourceId=ids["dropped"])
    assert deleted["status"] == "DELETING"
    assert _sources(runtime, kb_id) == {"owls.txt"}  # DELETE: its chunks went with it
    agent.delete_data_source(knowledgeBaseId=kb_id, dataSourceId=ids["kept"])
    assert _sources(runtime, kb_id) == {"owls.txt"}  # RETAIN: still searchable
    with pytest.raises(agent.exceptions.ResourceNotFoundException):
        agent.get_data_source(knowledgeBaseId=kb_id, dataSourceId=ids["kept"])
    assert agent.list_data_sources(knowledgeBaseId=kb_id)["dataSourceSummaries"] == []


def _unvalidated_runtime(kb_gateway):
    keys = kb_gateway.gw.keys
    return boto3.Session(
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        region_name="us-east-1",
    ).client(
        "bedrock-agent-runtime",
        endpoint_url=kb_gateway.url,
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )


BAD_SEARCHES = [
    ({"numberOfResults": 0}, "numberOfResults"),
    ({"numberOfResults": "five"}, "numberOfResults"),
    (
        {
            "filter": {
                "equals": {"key": "topic", "value": "a"},
                "notEquals": {"key": "topic", "value": "b"},
            }
        },
        "vectorSearchConfiguration.filter",
    ),
    ({"filter": {"andAll": [{"equals": {"key": "topic", "value": "a"}}]}}, "andAll"),
    ({"filter": {"orAll": [{"equals": {"key": "topic", "value": "a"}}, {}]}}, "orAll"),
    ({"filter": {"listContains": {"key": "tags"}}}, "listContains"),
    ({"filter": {"notIn": {"key": "topic", "value": []}}}, "notIn"),
    ({"filter": {"lessThanOrEquals": {"key": "year", "value": True}}}, "lessThanOrEquals"),
    ({"filter": {"stringContains": {"key": "topic", "value": ["a"]}}}, "stringContains"),
]


def test_malformed_search_is_a_validation_error_naming_the_field(kb_gateway):
    runtime = _unvalidated_runtime(kb_gateway)
    kb_id = create_kb(kb_gateway.agent)
    for search, field in BAD_SEARCHES:
        with pytest.raises(ClientError) as exc:
            runtime.retrieve(
                knowledgeBaseId=kb_id,
                retrievalQuery={"text": "q"},
                retrievalConfiguration={"vectorSearchConfiguration": search},
            )
        error, status = exc.value.response["Error"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]
        assert (error["Code"], status) == ("ValidationException", 400), (search, error)
        assert field in error["Message"], (search, error["Message"])
        assert "Traceback" not in error["Message"]


def test_unknown_ingestion_jobs_are_not_found_and_rerank_says_why(kb_gateway, docs_root):
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    kb_id = create_kb(agent)
    ds_id = agent.create_data_source(
        knowledgeBaseId=kb_id, name="d", dataSourceConfiguration=folder_source(docs_root)
    )["dataSource"]["dataSourceId"]
    for call in (agent.get_ingestion_job, agent.stop_ingestion_job):
        with pytest.raises(agent.exceptions.ResourceNotFoundException):
            call(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId="ABCDEFGHIJ")
    with pytest.raises(runtime.exceptions.ValidationException) as exc:
        runtime.rerank(
            queries=[{"type": "TEXT", "textQuery": {"text": "q"}}],
            sources=[
                {
                    "type": "INLINE",
                    "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "a"}},
                }
            ],
            rerankingConfiguration={
                "type": "BEDROCK_RERANKING_MODEL",
                "bedrockRerankingConfiguration": {
                    "modelConfiguration": {
                        "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.rerank-v1:0"
                    }
                },
            },
        )
    assert "reranking model" in exc.value.response["Error"]["Message"]
