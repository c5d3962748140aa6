"""Knowledge bases end to end through boto3 (SigV4) against a live gateway: CRUD, a folder ingested
in every format, Retrieve (semantic, hybrid, filters), errors in bedrock-agent's shapes."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.model_layer.knowledge.conftest import EMBED_ARN, ROLE_ARN, create_kb, folder_source, ingest
from tests.model_layer.knowledge.docs import write_corpus


def _code(exc: pytest.ExceptionInfo) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_knowledge_base_crud(kb_gateway):
    agent = kb_gateway.agent
    kb_id = create_kb(agent, "crud")
    got = agent.get_knowledge_base(knowledgeBaseId=kb_id)["knowledgeBase"]
    assert got["status"] == "ACTIVE" and got["name"] == "crud"
    assert got["knowledgeBaseArn"].endswith(f":knowledge-base/{kb_id}")
    listed = agent.list_knowledge_bases()["knowledgeBaseSummaries"]
    assert [k["knowledgeBaseId"] for k in listed] == [kb_id]
    updated = agent.update_knowledge_base(
        knowledgeBaseId=kb_id,
        name="crud2",
        roleArn=ROLE_ARN,
        description="d",
        knowledgeBaseConfiguration={
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": EMBED_ARN},
        },
    )["knowledgeBase"]
    assert updated["name"] == "crud2" and updated["description"] == "d"
    with pytest.raises(ClientError) as exc:
        create_kb(agent, "crud2")
    assert _code(exc) == ("ConflictException", 409)
    assert agent.delete_knowledge_base(knowledgeBaseId=kb_id)["status"] == "DELETING"
    with pytest.raises(agent.exceptions.ResourceNotFoundException):
        agent.get_knowledge_base(knowledgeBaseId=kb_id)


def test_create_refuses_a_chat_model_or_unknown_model(kb_gateway):
    for arn in (
        "arn:aws:bedrock:us-east-1::foundation-model/fake.echo-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/nope.x-v1:0",
    ):
        with pytest.raises(kb_gateway.agent.exceptions.ValidationException):
            kb_gateway.agent.create_knowledge_base(
                name="bad",
                roleArn=ROLE_ARN,
                knowledgeBaseConfiguration={
                    "type": "VECTOR",
                    "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": arn},
                },
            )


def test_folder_in_every_format_is_ingested_and_retrieved(kb_gateway, docs_root):
    write_corpus(docs_root)
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    kb_id = create_kb(agent)
    ds = agent.create_data_source(
        knowledgeBaseId=kb_id, name="folder", dataSourceConfiguration=folder_source(docs_root)
    )
    ds_id = ds["dataSource"]["dataSourceId"]
    job = ingest(agent, kb_id, ds_id)
    assert job["status"] == "COMPLETE", job
    stats = job["statistics"]
    assert stats["numberOfDocumentsScanned"] == 6
    assert stats["numberOfMetadataDocumentsScanned"] == 6
    assert stats["numberOfNewDocumentsIndexed"] == 6 and stats["numberOfDocumentsFailed"] == 0

    questions = {
        "Which volcano in Italy erupts often?": "volcanoes.txt",
        "How do I keep my bread starter alive?": "sourdough.md",
        "Who looks after the egg in winter?": "penguins.html",
        "How much does the unlimited plan cost per month?": "rates.csv",
        "Is a broken display covered by the guarantee?": "warranty.docx",
        "Which observatory sees in infrared?": "telescope.pdf",
    }
    for question, expected in questions.items():
        for search in ("SEMANTIC", "HYBRID"):
            results = runtime.retrieve(
                knowledgeBaseId=kb_id,
                retrievalQuery={"text": question},
                retrievalConfiguration={
                    "vectorSearchConfiguration": {"numberOfResults": 3, "overrideSearchType": search}
                },
            )["retrievalResults"]
            top = results[0]
            assert top["location"]["webLocation"]["url"].endswith(expected), (question, search, results)
            assert top["metadata"]["x-amz-bedrock-kb-data-source-id"] == ds_id
            assert 0 <= top["score"] <= 1 and top["content"]["type"] == "TEXT"
    html = runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "emperor penguins"})[
        "retrievalResults"
    ][0]
    assert "script text" not in html["content"]["text"]  # scripts are not document text


FILTERS = [
    ({"equals": {"key": "topic", "value": "geology"}}, {"volcanoes.txt"}),
    (
        {"notEquals": {"key": "topic", "value": "geology"}},
        {"sourdough.md", "penguins.html", "rates.csv", "warranty.docx", "telescope.pdf"},
    ),
    ({"greaterThan": {"key": "year", "value": 2022}}, {"penguins.html", "rates.csv"}),
    ({"greaterThanOrEquals": {"key": "year", "value": 2023}}, {"penguins.html", "rates.csv"}),
    ({"lessThan": {"key": "year", "value": 2021}}, {"sourdough.md"}),
    ({"lessThanOrEquals": {"key": "year", "value": 2021}}, {"sourdough.md", "volcanoes.txt"}),
    ({"in": {"key": "topic", "value": ["cooking", "billing"]}}, {"sourdough.md", "rates.csv"}),
    (
        {"notIn": {"key": "topic", "value": ["cooking", "billing", "geology", "biology"]}},
        {"warranty.docx", "telescope.pdf"},
    ),
    ({"startsWith": {"key": "topic", "value": "bio"}}, {"penguins.html"}),
    ({"listContains": {"key": "tags", "value": "laptop"}}, {"warranty.docx"}),
    ({"stringContains": {"key": "topic", "value": "ron"}}, {"telescope.pdf"}),
    ({"stringContains": {"key": "tags", "value": "arct"}}, {"penguins.html"}),
    (
        {"equals": {"key": "reviewed", "value": True}},
        {"volcanoes.txt", "penguins.html", "rates.csv", "telescope.pdf"},
    ),
    (
        {
            "andAll": [
                {"equals": {"key": "reviewed", "value": True}},
                {"greaterThan": {"key": "year", "value": 2022}},
            ]
        },
        {"penguins.html", "rates.csv"},
    ),
    (
        {
            "orAll": [
                {"equals": {"key": "topic", "value": "cooking"}},
                {"startsWith": {"key": "topic", "value": "astro"}},
            ]
        },
        {"sourdough.md", "telescope.pdf"},
    ),
    (
        {
            "andAll": [
                {
                    "orAll": [
                        {"listContains": {"key": "tags", "value": "space"}},
                        {"listContains": {"key": "tags", "value": "bread"}},
                    ]
                },
                {"notEquals": {"key": "reviewed", "value": False}},
            ]
        },
        {"telescope.pdf"},
    ),
]


def test_every_filter_operator(kb_gateway, docs_root):
    write_corpus(docs_root)
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    kb_id = create_kb(agent)
    ds_id = agent.create_data_source(
        knowledgeBaseId=kb_id, name="f", dataSourceConfiguration=folder_source(docs_root)
    )["dataSource"]["dataSourceId"]
    assert ingest(agent, kb_id, ds_id)["status"] == "COMPLETE"
    for flt, expected in FILTERS:
        for search in ("SEMANTIC", "HYBRID"):
            results = runtime.retrieve(
                knowledgeBaseId=kb_id,
                retrievalQuery={"text": "information"},
                retrievalConfiguration={
                    "vectorSearchConfiguration": {
                        "numberOfResults": 20,
                        "overrideSearchType": search,
                        "filter": flt,
                    }
                },
            )["retrievalResults"]
            found = {r["location"]["webLocation"]["url"].rsplit("/", 1)[-1] for r in results}
            if search == "HYBRID":
                assert found <= expected, (flt, found)  # BM25 adds only matching chunks
                found |= expected & found
            if search == "SEMANTIC":
                assert found == expected, (flt, search, found)


def test_bad_retrieve_input_is_a_validation_error_naming_the_field(kb_gateway):
    runtime = kb_gateway.runtime
    kb_id = create_kb(kb_gateway.agent)
    bad = [
        ({"vectorSearchConfiguration": {"numberOfResults": 101}}, "numberOfResults"),
        ({"vectorSearchConfiguration": {"overrideSearchType": "FUZZY"}}, "overrideSearchType"),
        (
            {"vectorSearchConfiguration": {"filter": {"greaterThan": {"key": "year", "value": "2020"}}}},
            "greaterThan.value",
        ),
        ({"vectorSearchConfiguration": {"filter": {"in": {"key": "topic", "value": "x"}}}}, "in.value"),
        (
            {"vectorSearchConfiguration": {"filter": {"startsWith": {"key": "topic", "value": 3}}}},
            "startsWith.value",
        ),
    ]
    for config, field in bad:
        with pytest.raises(ClientError) as exc:
            runtime.retrieve(
                knowledgeBaseId=kb_id, retrievalQuery={"text": "q"}, retrievalConfiguration=config
            )
        assert _code(exc) == ("ValidationException", 400), config
        assert field in exc.value.response["Error"]["Message"], (
            field,
            exc.value.response["Error"]["Message"],
        )


def test_unknown_ids_are_not_found(kb_gateway):
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    with pytest.raises(agent.exceptions.ResourceNotFoundException):
        agent.get_knowledge_base(knowledgeBaseId="ABCDEFGHIJ")
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.retrieve(knowledgeBaseId="ABCDEFGHIJ", retrievalQuery={"text": "q"})
    kb_id = create_kb(agent)
    with pytest.raises(agent.exceptions.ResourceNotFoundException):
        agent.get_data_source(knowledgeBaseId=kb_id, dataSourceId="ABCDEFGHIJ")
    with pytest.raises(agent.exceptions.ResourceNotFoundException):
        agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId="ABCDEFGHIJ")


def test_another_tenants_knowledge_base_is_not_found(kb_gateway, docs_root):
    write_corpus(docs_root)
    kb_id = create_kb(kb_gateway.agent)
    ds_id = kb_gateway.agent.create_data_source(
        knowledgeBaseId=kb_id, name="f", dataSourceConfiguration=folder_source(docs_root)
    )["dataSource"]["dataSourceId"]
    assert ingest(kb_gateway.agent, kb_id, ds_id)["status"] == "COMPLETE"
    other_agent, other_runtime = kb_gateway.clients_for("globex")
    with pytest.raises(other_agent.exceptions.ResourceNotFoundException):
        other_agent.get_knowledge_base(knowledgeBaseId=kb_id)
    with pytest.raises(other_agent.exceptions.ResourceNotFoundException):
        other_agent.get_data_source(knowledgeBaseId=kb_id, dataSourceId=ds_id)
    with pytest.raises(other_runtime.exceptions.ResourceNotFoundException):
        other_runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "volcano"})
    with pytest.raises(other_agent.exceptions.ResourceNotFoundException):
        other_agent.delete_knowledge_base(knowledgeBaseId=kb_id)
    assert other_agent.list_knowledge_bases()["knowledgeBaseSummaries"] == []
    # the owner still has it, intact
    assert kb_gateway.runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "volcano"})[
        "retrievalResults"
    ]


def test_folder_outside_the_configured_roots_is_refused(kb_gateway, tmp_path):
    kb_id = create_kb(kb_gateway.agent)
    with pytest.raises(kb_gateway.agent.exceptions.ValidationException) as exc:
        kb_gateway.agent.create_data_source(
            knowledgeBaseId=kb_id, name="etc", dataSourceConfiguration=folder_source(tmp_path / "..")
        )
    assert "STRATA_KB_FOLDER_ROOTS" in exc.value.response["Error"]["Message"]
