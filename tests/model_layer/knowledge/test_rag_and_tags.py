"""RetrieveAndGenerate (plain and streamed) with citations and sessions, tags at /tags/{arn},
the runtime's error statuses, CUSTOM documents — through boto3 against a live gateway."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.model_layer.knowledge.conftest import CHAT_MODEL, create_kb, folder_source, ingest
from tests.model_layer.knowledge.docs import write_corpus


@pytest.fixture
def indexed(kb_gateway, docs_root):
    write_corpus(docs_root)
    kb_id = create_kb(kb_gateway.agent)
    ds_id = kb_gateway.agent.create_data_source(
        knowledgeBaseId=kb_id, name="f", dataSourceConfiguration=folder_source(docs_root)
    )["dataSource"]["dataSourceId"]
    assert ingest(kb_gateway.agent, kb_id, ds_id)["status"] == "COMPLETE"
    return kb_id, ds_id


def _rag_config(kb_id: str, **kb: object) -> dict:
    return {
        "type": "KNOWLEDGE_BASE",
        "knowledgeBaseConfiguration": {
            "knowledgeBaseId": kb_id,
            "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{CHAT_MODEL}",
            **kb,
        },
    }


def test_retrieve_and_generate_cites_the_relevant_document(kb_gateway, indexed):
    kb_id, _ = indexed
    question = "Does the laptop warranty cover a cracked screen from accidental damage?"
    answer = kb_gateway.runtime.retrieve_and_generate(
        input={"text": question}, retrieveAndGenerateConfiguration=_rag_config(kb_id)
    )
    text = answer["output"]["text"]
    assert text == f"You said: {question}"  # the fake model echoes; the pipeline is what is tested
    assert answer["sessionId"]
    citations = answer["citations"]
    assert citations, answer
    part = citations[0]["generatedResponsePart"]["textResponsePart"]
    span = part["span"]
    assert text[span["start"] : span["end"] + 1] == part["text"]
    uris = [r["location"]["webLocation"]["url"] for r in citations[0]["retrievedReferences"]]
    assert uris[0].endswith("warranty.docx")
    assert "accidental damage" in citations[0]["retrievedReferences"][0]["content"]["text"].lower()


def test_the_prompt_template_and_search_results_reach_the_model(kb_gateway, indexed):
    kb_id, _ = indexed
    template = "Answer from these only: $search_results$"
    answer = kb_gateway.runtime.retrieve_and_generate(
        input={"text": "emperor penguin eggs"},
        retrieveAndGenerateConfiguration=_rag_config(
            kb_id,
            generationConfiguration={"promptTemplate": {"textPromptTemplate": template}},
            retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 2}},
        ),
    )
    assert answer["output"]["text"] == "You said: emperor penguin eggs"
    with pytest.raises(kb_gateway.runtime.exceptions.ValidationException):
        kb_gateway.runtime.retrieve_and_generate(
            input={"text": "q"},
            retrieveAndGenerateConfiguration=_rag_config(
                kb_id, generationConfiguration={"promptTemplate": {"textPromptTemplate": "no placeholder"}}
            ),
        )


def test_session_follow_up_and_stream(kb_gateway, indexed):
    kb_id, _ = indexed
    runtime = kb_gateway.runtime
    first = runtime.retrieve_and_generate(
        input={"text": "Which telescope sees infrared light?"},
        retrieveAndGenerateConfiguration=_rag_config(kb_id),
    )
    session = first["sessionId"]
    response = runtime.retrieve_and_generate_stream(
        input={"text": "How wide is its gold mirror?"},
        retrieveAndGenerateConfiguration=_rag_config(kb_id),
        sessionId=session,
    )
    assert response["sessionId"] == session
    text, citations = "", []
    for event in response["stream"]:
        if "output" in event:
            text += event["output"]["text"]
        elif "citation" in event:
            citations.append(event["citation"])
    assert text == "You said: How wide is its gold mirror?"
    refs = [r["location"]["webLocation"]["url"] for c in citations for r in c["retrievedReferences"]]
    assert refs and refs[0].endswith("telescope.pdf")
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.retrieve_and_generate(
            input={"text": "q"},
            retrieveAndGenerateConfiguration=_rag_config(kb_id),
            sessionId="no-such-session",
        )
    other = kb_gateway.clients_for("globex")[1]
    with pytest.raises(other.exceptions.ResourceNotFoundException):  # sessions are per tenant
        other.retrieve_and_generate(
            input={"text": "q"}, retrieveAndGenerateConfiguration=_rag_config(kb_id), sessionId=session
        )


def test_tags_on_a_knowledge_base_and_dispatch_by_arn(kb_gateway):
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    kb = agent.create_knowledge_base(
        name="tagged",
        roleArn="arn:aws:iam::123456789012:role/r",
        knowledgeBaseConfiguration={
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.minilm-l6-v2:0"
            },
        },
        tags={"team": "search"},
    )["knowledgeBase"]
    arn = kb["knowledgeBaseArn"]
    assert agent.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "search"}
    agent.tag_resource(resourceArn=arn, tags={"env": "test"})
    # bedrock-agent-runtime's client sends the same request to the same URL: one table answers both
    assert runtime.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "search", "env": "test"}
    agent.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert agent.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "test"}
    other = kb_gateway.clients_for("globex")[0]
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.list_tags_for_resource(resourceArn=arn)
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.tag_resource(resourceArn=arn, tags={"x": "y"})
    agent.delete_knowledge_base(knowledgeBaseId=kb["knowledgeBaseId"])
    with pytest.raises(agent.exceptions.ResourceNotFoundException):
        agent.list_tags_for_resource(resourceArn=arn)


def test_runtime_paths_render_with_the_runtime_statuses():
    from model_layer.api.collisions import service_for

    assert service_for("POST", "/knowledgebases/ABCDEFGHIJ/retrieve") == "bedrock-agent-runtime"
    assert service_for("POST", "/retrieveAndGenerateStream") == "bedrock-agent-runtime"
    assert service_for("POST", "/agents/my-session") == "bedrock-agent-runtime"  # InvokeInlineAgent
    assert service_for("POST", "/agents/ABCDEFGHIJ/") is None  # PrepareAgent: bedrock-agent's
    assert service_for("GET", "/knowledgebases/ABCDEFGHIJ") is None
    session = "arn:aws:bedrock:us-east-1:123456789012:session/3f1c2b2e-1111-2222-3333-444455556666"
    assert (
        service_for("GET", "/tags/" + session.replace(":", "%3A").replace("/", "%2F"))
        == "bedrock-agent-runtime"
    )
    kb = "arn:aws:bedrock:us-east-1:123456789012:knowledge-base/ABCDEFGHIJ"
    assert service_for("GET", "/tags/" + kb.replace(":", "%3A").replace("/", "%2F")) == "bedrock-agent"


def test_custom_documents_are_ingested_listed_and_deleted(kb_gateway):
    agent, runtime = kb_gateway.agent, kb_gateway.runtime
    kb_id = create_kb(agent)
    ds_id = agent.create_data_source(
        knowledgeBaseId=kb_id, name="custom", dataSourceConfiguration={"type": "CUSTOM"}
    )["dataSource"]["dataSourceId"]
    docs = [
        ("faq-1", "Returns are accepted within thirty days with the original receipt.", "policy"),
        ("faq-2", "Gift cards never expire and can be used online or in stores.", "giftcards"),
    ]
    details = agent.ingest_knowledge_base_documents(
        knowledgeBaseId=kb_id,
        dataSourceId=ds_id,
        documents=[
            {
                "content": {
                    "dataSourceType": "CUSTOM",
                    "custom": {
                        "customDocumentIdentifier": {"id": doc_id},
                        "sourceType": "IN_LINE",
                        "inlineContent": {"type": "TEXT", "textContent": {"data": text}},
                    },
                },
                "metadata": {
                    "type": "IN_LINE_ATTRIBUTE",
                    "inlineAttributes": [{"key": "kind", "value": {"type": "STRING", "stringValue": kind}}],
                },
            }
            for doc_id, text, kind in docs
        ],
    )["documentDetails"]
    assert [d["status"] for d in details] == ["INDEXED", "INDEXED"]
    top = runtime.retrieve(
        knowledgeBaseId=kb_id, retrievalQuery={"text": "can I bring back an item I bought?"}
    )["retrievalResults"][0]
    assert top["location"] == {"type": "CUSTOM", "customDocumentLocation": {"id": "faq-1"}}
    assert top["metadata"]["kind"] == "policy"
    ids = [{"dataSourceType": "CUSTOM", "custom": {"id": i}} for i in ("faq-1", "nope")]
    got = agent.get_knowledge_base_documents(
        knowledgeBaseId=kb_id, dataSourceId=ds_id, documentIdentifiers=ids
    )
    assert [d["status"] for d in got["documentDetails"]] == ["INDEXED", "NOT_FOUND"]
    listed = agent.list_knowledge_base_documents(knowledgeBaseId=kb_id, dataSourceId=ds_id)["documentDetails"]
    assert len(listed) == 2
    agent.delete_knowledge_base_documents(
        knowledgeBaseId=kb_id, dataSourceId=ds_id, documentIdentifiers=ids[:1]
    )
    results = runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "returns receipt"})[
        "retrievalResults"
    ]
    assert all(r["location"]["customDocumentLocation"]["id"] != "faq-1" for r in results)
    with pytest.raises(ClientError) as exc:  # a CUSTOM source has no ingestion jobs
        agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
