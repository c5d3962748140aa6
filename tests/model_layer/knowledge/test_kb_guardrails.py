"""Guardrails on Retrieve, RetrieveAndGenerate and RetrieveAndGenerateStream, through boto3's
bedrock-agent-runtime (SigV4) and langchain-aws against a live gateway.

One gateway and one indexed knowledge base for the module (real MiniLM embeddings, embedded
Chroma). The chat model is the deterministic echo ("You said: <question>"), so the output guard's
input is known: a word only the output is checked for ("secret sauce") blocks the answer, an
e-mail address in the question is masked on the way in (and so in the echo). The denied topic is
the real topic policy (MiniLM + the shipped classifier head), not a stand-in.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from langchain_aws import AmazonKnowledgeBasesRetriever

from tests.model_layer.gateway_harness import build_gateway
from tests.model_layer.knowledge.conftest import (
    CHAT_MODEL,
    boto_clients,
    create_kb,
    folder_source,
    ingest,
    kb_models,
)
from tests.model_layer.knowledge.docs import write_corpus
from tests.model_layer.live import serve_app
from tests.model_layer.state.pg_server import fresh_database, running_postgres

BLOCKED_IN = "Sorry, I can't answer questions about that."
BLOCKED_OUT = "That answer was withheld."
GUARDRAIL = {
    "name": "kb-guard",
    "topicPolicyConfig": {
        "topicsConfig": [
            {
                "name": "Investment advice",
                "definition": "Recommendations on which stocks, funds or cryptocurrencies to buy or sell.",
                "examples": ["Which shares should I buy?"],
                "type": "DENY",
            }
        ]
    },
    "wordPolicyConfig": {
        "wordsConfig": [{"text": "refund"}, {"text": "secret sauce", "inputEnabled": False}]
    },
    "sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
    "blockedInputMessaging": BLOCKED_IN,
    "blockedOutputsMessaging": BLOCKED_OUT,
}
FILLER = " ".join(["the sourdough starter needs flour and water every day"] * 30)  # ~1,600 chars
LONG_REPLIES = {"early": f"The secret sauce: {FILLER}.", "late": f"{FILLER}. The secret sauce."}
INVESTMENT = "Is it a good idea to put my whole bonus into Nvidia shares?"
CLEAN = "Which telescope sees infrared light?"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("kbg")
    docs = root / "docs"
    docs.mkdir()
    write_corpus(docs)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STRATA_KB_FOLDER_ROOTS", str(docs))
        gw = build_gateway(root / "home", _models_with_long_replies())
        with serve_app(gw.app) as url:
            agent, runtime = boto_clients(url, gw.keys)
            kb_id = create_kb(agent)
            ds_id = agent.create_data_source(
                knowledgeBaseId=kb_id, name="f", dataSourceConfiguration=folder_source(docs)
            )["dataSource"]["dataSourceId"]
            assert ingest(agent, kb_id, ds_id)["status"] == "COMPLETE"
            bedrock = _client(url, gw.keys, "bedrock")
            gid = bedrock.create_guardrail(**GUARDRAIL)["guardrailId"]
            yield gw, url, runtime, kb_id, gid


def _models_with_long_replies():
    """The KB's models plus two fixed-reply models whose answers are longer than one text unit."""
    config = kb_models()
    for name, reply in LONG_REPLIES.items():
        config["providers"].append({"name": name, "type": "fake", "reply": reply})
        config["models"].append({"id": f"fake.{name}-v1:0", "provider": name})
    return config


def _client(url, keys, service):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(retries={"max_attempts": 1}),
    )


def _guard(gid, version="DRAFT"):
    return {"guardrailId": gid, "guardrailVersion": version}


def _rag(kb_id, guardrail=None, model=CHAT_MODEL):
    generation = (
        {} if guardrail is None else {"generationConfiguration": {"guardrailConfiguration": guardrail}}
    )
    return {
        "type": "KNOWLEDGE_BASE",
        "knowledgeBaseConfiguration": {
            "knowledgeBaseId": kb_id,
            "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model}",
            **generation,
        },
    }


def _model_calls(gw):
    return gw.router.providers["fake"].calls


def _evaluations(gw):
    return gw.parts.service.guardrails.store.units("acme")["evaluations"]


def _stream(runtime, kb_id, text, guardrail, model=CHAT_MODEL):
    response = runtime.retrieve_and_generate_stream(
        input={"text": text}, retrieveAndGenerateConfiguration=_rag(kb_id, guardrail, model)
    )
    out = {"text": "", "citations": [], "guardrail": [], "sessionId": response["sessionId"]}
    for event in response["stream"]:
        if "output" in event:
            out["text"] += event["output"]["text"]
        elif "citation" in event:
            out["citations"].append(event["citation"])
        elif "guardrail" in event:
            out["guardrail"].append(event["guardrail"]["action"])
    return out


# --- Retrieve ---------------------------------------------------------------------------------------


def test_retrieve_none_when_nothing_matches_and_the_field_only_with_a_guardrail(live):
    gw, _, runtime, kb_id, gid = live
    plain = runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": CLEAN})
    assert "guardrailAction" not in plain
    before = _evaluations(gw)
    guarded = runtime.retrieve(
        knowledgeBaseId=kb_id, retrievalQuery={"text": CLEAN}, guardrailConfiguration=_guard(gid)
    )
    assert guarded["guardrailAction"] == "NONE"
    assert guarded["retrievalResults"] == plain["retrievalResults"]  # references are never checked
    assert _evaluations(gw) == before + 1  # the query's check, recorded in text units


def test_retrieve_denied_topic_retrieves_nothing(live):
    _, _, runtime, kb_id, gid = live
    r = runtime.retrieve(
        knowledgeBaseId=kb_id, retrievalQuery={"text": INVESTMENT}, guardrailConfiguration=_guard(gid)
    )
    assert r["guardrailAction"] == "INTERVENED"
    assert r["retrievalResults"] == []
    assert "nextToken" not in r


def test_retrieve_masked_query_still_retrieves(live):
    _, _, runtime, kb_id, gid = live
    r = runtime.retrieve(
        knowledgeBaseId=kb_id,
        retrievalQuery={"text": "How do emperor penguins keep the egg warm? Answer to ann@example.com"},
        guardrailConfiguration=_guard(gid),
    )
    assert r["guardrailAction"] == "INTERVENED"  # the address was masked, the question still asked
    uris = [x["location"]["webLocation"]["url"] for x in r["retrievalResults"]]
    assert uris and uris[0].endswith("penguins.html")


def test_langchain_retriever_with_guardrails(live):
    gw, url, _, kb_id, gid = live
    _, runtime = boto_clients(url, gw.keys)
    retriever = AmazonKnowledgeBasesRetriever(
        knowledge_base_id=kb_id, client=runtime, guardrail_config=_guard(gid)
    )
    docs = retriever.invoke(CLEAN)
    assert docs and docs[0].metadata["location"]["webLocation"]["url"].endswith("telescope.pdf")
    assert retriever.invoke(INVESTMENT) == []


def test_bad_guardrail_on_retrieve(live):
    gw, url, runtime, kb_id, gid = live
    query = {"text": CLEAN}
    before = _evaluations(gw)
    for config in (_guard("nosuchguardrail"), _guard(gid, "7")):
        with pytest.raises(runtime.exceptions.ResourceNotFoundException):
            runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery=query, guardrailConfiguration=config)
    with pytest.raises(runtime.exceptions.ValidationException) as exc:
        runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery=query, guardrailConfiguration=_guard("Bad-Id"))
    assert "guardrailId" in exc.value.response["Error"]["Message"]
    _, other = boto_clients(url, gw.issue_keys("globex"))
    with pytest.raises(other.exceptions.ResourceNotFoundException):  # acme's guardrail, globex's call
        other.retrieve(knowledgeBaseId=kb_id, retrievalQuery=query, guardrailConfiguration=_guard(gid))
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):  # no such KB: no guardrail work
        runtime.retrieve(
            knowledgeBaseId="NOSUCHKB00", retrievalQuery=query, guardrailConfiguration=_guard(gid)
        )
    assert _evaluations(gw) == before


# --- RetrieveAndGenerate ------------------------------------------------------------------------------


def test_rag_none_keeps_answer_and_citations(live):
    gw, _, runtime, kb_id, gid = live
    question = "Does the laptop warranty cover a cracked screen from accidental damage?"
    before = _evaluations(gw)
    r = runtime.retrieve_and_generate(
        input={"text": question}, retrieveAndGenerateConfiguration=_rag(kb_id, _guard(gid))
    )
    assert r["guardrailAction"] == "NONE"
    assert r["output"]["text"] == f"You said: {question}"
    assert r["citations"] and r["citations"][0]["retrievedReferences"]
    assert _evaluations(gw) == before + 2  # the question (INPUT) and the answer (OUTPUT)
    plain = runtime.retrieve_and_generate(
        input={"text": question}, retrieveAndGenerateConfiguration=_rag(kb_id)
    )
    assert "guardrailAction" not in plain


def test_rag_denied_topic_answers_the_blocked_message_without_the_model(live):
    gw, _, runtime, kb_id, gid = live
    calls = _model_calls(gw)
    r = runtime.retrieve_and_generate(
        input={"text": INVESTMENT}, retrieveAndGenerateConfiguration=_rag(kb_id, _guard(gid))
    )
    assert r["guardrailAction"] == "INTERVENED"
    assert r["output"]["text"] == BLOCKED_IN
    assert r["citations"] == []
    assert _model_calls(gw) == calls  # the question never reached the model
    # The session lives on without the blocked turn: a follow-up works and is not about it.
    follow = runtime.retrieve_and_generate(
        input={"text": CLEAN},
        retrieveAndGenerateConfiguration=_rag(kb_id, _guard(gid)),
        sessionId=r["sessionId"],
    )
    assert follow["guardrailAction"] == "NONE" and follow["sessionId"] == r["sessionId"]
    turns = gw.app.state.knowledge.store.get_session("acme", r["sessionId"])
    assert [t["question"] for t in turns] == [CLEAN]


def test_rag_masks_pii_in_question_answer_citations_and_session(live):
    gw, _, runtime, kb_id, gid = live
    question = "Is a cracked laptop screen covered by the warranty? Reply to ann@example.com"
    r = runtime.retrieve_and_generate(
        input={"text": question}, retrieveAndGenerateConfiguration=_rag(kb_id, _guard(gid))
    )
    assert r["guardrailAction"] == "INTERVENED"
    # The echo model repeats what it was given: the question reached it masked.
    assert (
        r["output"]["text"]
        == "You said: Is a cracked laptop screen covered by the warranty? Reply to {EMAIL}"
    )
    assert r["citations"]
    for citation in r["citations"]:
        assert "ann@example.com" not in citation["generatedResponsePart"]["textResponsePart"]["text"]
    turns = gw.app.state.knowledge.store.get_session("acme", r["sessionId"])
    assert "ann@example.com" not in str(turns) and "{EMAIL}" in turns[-1]["question"]


def test_rag_masks_pii_only_the_answer_has(live):
    """EMAIL masked on output only: the model gets the address, the user's answer (and what its
    citations quote) does not."""
    gw, url, runtime, kb_id, _ = live
    output_only = {
        "name": "kb-guard-out",
        "sensitiveInformationPolicyConfig": {
            "piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE", "inputAction": "NONE"}]
        },
        "blockedInputMessaging": BLOCKED_IN,
        "blockedOutputsMessaging": BLOCKED_OUT,
    }
    gid = _client(url, gw.keys, "bedrock").create_guardrail(**output_only)["guardrailId"]
    question = "Does the Webb telescope see infrared light? Reply to ann@example.com"
    r = runtime.retrieve_and_generate(
        input={"text": question}, retrieveAndGenerateConfiguration=_rag(kb_id, _guard(gid))
    )
    assert r["guardrailAction"] == "INTERVENED"
    assert r["output"]["text"] == "You said: Does the Webb telescope see infrared light? Reply to {EMAIL}"
    parts = [c["generatedResponsePart"]["textResponsePart"]["text"] for c in r["citations"]]
    assert parts and not any("ann@example.com" in p for p in parts)
    turns = gw.app.state.knowledge.store.get_session("acme", r["sessionId"])
    assert turns[-1]["answer"] == r["output"]["text"]


def test_rag_blocked_answer_is_the_blocked_message_with_no_citations(live):
    gw, _, runtime, kb_id, gid = live
    calls = _model_calls(gw)
    r = runtime.retrieve_and_generate(
        input={"text": "What is the secret sauce of sourdough bread?"},
        retrieveAndGenerateConfiguration=_rag(kb_id, _guard(gid)),
    )
    assert _model_calls(gw) == calls + 1  # the question passed; the model's answer did not
    assert r["guardrailAction"] == "INTERVENED"
    assert r["output"]["text"] == BLOCKED_OUT
    assert r["citations"] == []
    chat = next(u for u in gw.usage.records(tenant_id="acme", limit=20) if u.model_id == CHAT_MODEL)
    assert chat.operation == "RetrieveAndGenerate" and chat.output_tokens > 0  # the model ran: billed
    assert chat.outcome == "complete"  # metered as Converse meters a blocked answer, not as a hang-up


def test_bad_guardrail_on_rag_is_refused_before_the_model(live):
    gw, _, runtime, kb_id, gid = live
    calls, before = _model_calls(gw), _evaluations(gw)
    for config in (_guard("nosuchguardrail"), _guard(gid, "3")):
        with pytest.raises(runtime.exceptions.ResourceNotFoundException) as exc:
            runtime.retrieve_and_generate(
                input={"text": CLEAN}, retrieveAndGenerateConfiguration=_rag(kb_id, config)
            )
        assert "guardrail" in exc.value.response["Error"]["Message"]
        with pytest.raises(runtime.exceptions.ResourceNotFoundException):
            runtime.retrieve_and_generate_stream(
                input={"text": CLEAN}, retrieveAndGenerateConfiguration=_rag(kb_id, config)
            )
    with pytest.raises(runtime.exceptions.ValidationException):
        runtime.retrieve_and_generate(
            input={"text": CLEAN}, retrieveAndGenerateConfiguration=_rag(kb_id, _guard(gid, "v1"))
        )
    assert _model_calls(gw) == calls and _evaluations(gw) == before


# --- RetrieveAndGenerateStream ------------------------------------------------------------------------


def test_stream_guardrail_event(live):
    gw, _, runtime, kb_id, gid = live
    clean = _stream(runtime, kb_id, CLEAN, _guard(gid))
    assert clean["guardrail"] == ["NONE"]
    assert clean["text"] == f"You said: {CLEAN}" and clean["citations"]
    assert _stream(runtime, kb_id, CLEAN, None)["guardrail"] == []  # no guardrail, no event

    calls = _model_calls(gw)
    denied = _stream(runtime, kb_id, INVESTMENT, _guard(gid))
    assert denied == {**denied, "text": BLOCKED_IN, "citations": [], "guardrail": ["INTERVENED"]}
    assert _model_calls(gw) == calls

    masked = _stream(runtime, kb_id, "Where does the Webb telescope sit? cc bo@example.org", _guard(gid))
    assert masked["guardrail"] == ["INTERVENED"]
    assert masked["text"] == "You said: Where does the Webb telescope sit? cc {EMAIL}"
    assert masked["citations"]

    blocked = _stream(runtime, kb_id, "Tell me the secret sauce of sourdough", _guard(gid))
    assert blocked == {**blocked, "text": BLOCKED_OUT, "citations": [], "guardrail": ["INTERVENED"]}


def test_a_block_inside_a_long_answer(live):
    """The answer is checked a text unit (1,000 characters) at a time. A block in the first unit
    stops the model there and nothing of the answer is sent; a block in a later unit follows the
    units that passed on the stream, while the whole non-streamed answer is the blocked message."""
    gw, _, runtime, kb_id, gid = live
    question = "How do I keep a sourdough starter?"
    early, late = LONG_REPLIES["early"], LONG_REPLIES["late"]
    stopped = _stream(runtime, kb_id, question, _guard(gid), "fake.early-v1:0")
    assert stopped == {**stopped, "text": BLOCKED_OUT, "citations": [], "guardrail": ["INTERVENED"]}
    chat = next(u for u in gw.usage.records(tenant_id="acme", limit=20) if u.model_id == "fake.early-v1:0")
    assert 0 < chat.output_tokens < len(early.split())  # the model was stopped at the first unit
    assert chat.outcome == "complete"  # stopped by the guardrail, not left by the client

    streamed = _stream(runtime, kb_id, question, _guard(gid), "fake.late-v1:0")
    assert streamed["guardrail"] == ["INTERVENED"] and streamed["citations"] == []
    passed = streamed["text"].removesuffix(BLOCKED_OUT)
    assert passed and late.startswith(passed) and len(passed) <= 1000
    whole = runtime.retrieve_and_generate(
        input={"text": question}, retrieveAndGenerateConfiguration=_rag(kb_id, _guard(gid), "fake.late-v1:0")
    )
    assert whole["output"]["text"] == BLOCKED_OUT and whole["citations"] == []
    assert "secret sauce" not in str(gw.app.state.knowledge.store.get_session("acme", whole["sessionId"]))


def test_guarded_rag_state_on_postgresql(tmp_path):
    """Sessions (the masked question) and text units land in PostgreSQL as in SQLite."""
    docs = tmp_path / "docs"
    docs.mkdir()
    write_corpus(docs)
    with running_postgres() as admin, pytest.MonkeyPatch.context() as env:
        env.setenv("STRATA_STATE_URL", fresh_database(admin))
        env.setenv("STRATA_KB_FOLDER_ROOTS", str(docs))
        gw = build_gateway(tmp_path / "home", kb_models())
        assert gw.parts.keystore.state.db.dialect == "postgresql"
        with serve_app(gw.app) as url:
            agent, runtime = boto_clients(url, gw.keys)
            kb_id = create_kb(agent)
            ds_id = agent.create_data_source(
                knowledgeBaseId=kb_id, name="f", dataSourceConfiguration=folder_source(docs)
            )["dataSource"]["dataSourceId"]
            assert ingest(agent, kb_id, ds_id)["status"] == "COMPLETE"
            gid = _client(url, gw.keys, "bedrock").create_guardrail(**GUARDRAIL)["guardrailId"]
            denied = runtime.retrieve_and_generate(
                input={"text": INVESTMENT}, retrieveAndGenerateConfiguration=_rag(kb_id, _guard(gid))
            )
            assert denied["output"]["text"] == BLOCKED_IN
            masked = runtime.retrieve_and_generate(
                input={"text": "Is spilled coffee covered? Mail ann@example.com"},
                retrieveAndGenerateConfiguration=_rag(kb_id, _guard(gid)),
                sessionId=denied["sessionId"],
            )
            assert masked["guardrailAction"] == "INTERVENED" and masked["citations"]
            turns = gw.app.state.knowledge.store.get_session("acme", denied["sessionId"])
            assert turns == [
                {"question": "Is spilled coffee covered? Mail {EMAIL}", "answer": masked["output"]["text"]}
            ]
            assert _evaluations(gw) == 3  # the blocked question; the masked one and its answer
