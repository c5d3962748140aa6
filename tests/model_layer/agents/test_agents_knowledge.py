"""Agents with knowledge bases: real knowledge bases (ingested with the local MiniLM embeddings into
embedded Chroma) associated through boto3 and searched by the agent as a tool, with citations.

AssociateAgentKnowledgeBase checks the knowledge base is the tenant's; a lookup shows as
``knowledgeBaseLookupInput`` / ``knowledgeBaseLookupOutput`` traces; the answer's chunk cites the
retrieved passages (``attribution.citations``); ``sessionState.knowledgeBaseConfigurations``
tunes a lookup; a DISABLED association is not a tool.
"""

from __future__ import annotations

import pytest

from tests.model_layer.agents.harness import (
    INSTRUCTION,
    PLANNER,
    function_group,
    invoke,
    make_agent,
    models_config,
    running_gateway,
)
from tests.model_layer.agents.scripted import call, text
from tests.model_layer.gateway_harness import local_minilm
from tests.model_layer.knowledge.conftest import EMBED_MODEL, create_kb, folder_source, ingest

POLICIES = {
    "returns.md": "# Returns\nUnworn items can be returned within 30 days of delivery for a full refund.",
    "shipping.md": "# Shipping\nStandard shipping takes 3 to 5 business days; express arrives next day.",
    "warranty.md": "# Warranty\nElectronics carry a two-year warranty against manufacturing defects.",
}


@pytest.fixture
def kb_agent_gateway(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, body in POLICIES.items():
        (docs / name).write_text(body)
    monkeypatch.setenv("STRATA_KB_FOLDER_ROOTS", str(docs))
    config = models_config([local_minilm(EMBED_MODEL)], [{"name": "local", "type": "local"}])
    with running_gateway(tmp_path / "home", config=config) as gw:
        kb_id = create_kb(gw.agent, "policies")
        source = gw.agent.create_data_source(
            knowledgeBaseId=kb_id, name="folder", dataSourceConfiguration=folder_source(docs)
        )
        job = ingest(gw.agent, kb_id, source["dataSource"]["dataSourceId"])
        assert job["status"] == "COMPLETE", job
        yield gw, kb_id


def _kb_tool(kb_id: str) -> str:
    return f"knowledge_base_{kb_id}"


def test_the_agent_searches_its_knowledge_base_and_cites_it(kb_agent_gateway):
    gw, kb_id = kb_agent_gateway
    agent_id = make_agent(gw, function_group(), prepare=False)
    link = gw.agent.associate_agent_knowledge_base(
        agentId=agent_id,
        agentVersion="DRAFT",
        knowledgeBaseId=kb_id,
        description="Store policies: returns, shipping",
    )["agentKnowledgeBase"]
    assert link["knowledgeBaseState"] == "ENABLED" and link["knowledgeBaseId"] == kb_id
    gw.agent.prepare_agent(agentId=agent_id)

    gw.model.script(
        call(_kb_tool(kb_id), {"searchQuery": "how long do I have to return an item"}), text("30 days.")
    )
    out = invoke(gw.runtime, agent_id, "Can I return my shoes?", enableTrace=True)
    assert out["text"] == "30 days."
    tools = {t.name: t for t in gw.model.requests[0].tools}
    assert "Store policies" in tools[_kb_tool(kb_id)].description
    lookups = [t["trace"]["orchestrationTrace"] for t in out["traces"] if "orchestrationTrace" in t["trace"]]
    lookup_input = next(s["invocationInput"] for s in lookups if "invocationInput" in s)
    assert lookup_input["invocationType"] == "KNOWLEDGE_BASE"
    assert lookup_input["knowledgeBaseLookupInput"] == {
        "knowledgeBaseId": kb_id,
        "text": "how long do I have to return an item",
    }
    observation = next(
        s["observation"] for s in lookups if s.get("observation", {}).get("type") == "KNOWLEDGE_BASE"
    )
    references = observation["knowledgeBaseLookupOutput"]["retrievedReferences"]
    assert "30 days" in references[0]["content"]["text"]
    # the model read numbered passages, the best first
    passages = gw.model.requests[1].messages[-1]["content"][0]["toolResult"]["content"][0]["text"]
    assert passages.startswith("[1] ") and "30 days" in passages.split("[2]")[0]
    (citation,) = out["citations"]
    assert citation["generatedResponsePart"]["textResponsePart"]["text"] == "30 days."
    assert citation["retrievedReferences"][0]["content"]["text"] == references[0]["content"]["text"]
    assert citation["retrievedReferences"][0]["location"]["type"] == references[0]["location"]["type"]

    # a per-session retrieval configuration narrows the lookup
    gw.model.script(call(_kb_tool(kb_id), {"searchQuery": "shipping time"}), text("3 to 5 days."))
    config = {
        "knowledgeBaseId": kb_id,
        "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 1}},
    }
    narrowed = invoke(
        gw.runtime,
        agent_id,
        "Shipping?",
        session="s-2",
        sessionState={"knowledgeBaseConfigurations": [config]},
    )
    assert len(narrowed["citations"][0]["retrievedReferences"]) == 1
    assert "3 to 5" in narrowed["citations"][0]["retrievedReferences"][0]["content"]["text"]
    stranger = {**config, "knowledgeBaseId": "NOTMYKB000"}
    with pytest.raises(
        gw.runtime.exceptions.ValidationException,
        match=r"knowledgeBaseConfigurations\.1\.member\.knowledgeBaseId",
    ):
        invoke(
            gw.runtime, agent_id, "x", session="s-3", sessionState={"knowledgeBaseConfigurations": [stranger]}
        )


def test_knowledge_base_associations(kb_agent_gateway):
    gw, kb_id = kb_agent_gateway
    agent_id = make_agent(gw, function_group())
    with pytest.raises(gw.agent.exceptions.ResourceNotFoundException):
        gw.agent.associate_agent_knowledge_base(
            agentId=agent_id, agentVersion="DRAFT", knowledgeBaseId="NOSUCHKB00", description="nothing"
        )
    other_agent, _ = gw.clients_for("globex")
    theirs = other_agent.create_agent(agentName="theirs", foundationModel=PLANNER, instruction=INSTRUCTION)[
        "agent"
    ]
    with pytest.raises(other_agent.exceptions.ResourceNotFoundException):  # acme's knowledge base
        other_agent.associate_agent_knowledge_base(
            agentId=theirs["agentId"], agentVersion="DRAFT", knowledgeBaseId=kb_id, description="not ours"
        )
    gw.agent.associate_agent_knowledge_base(
        agentId=agent_id, agentVersion="DRAFT", knowledgeBaseId=kb_id, description="policies"
    )
    with pytest.raises(gw.agent.exceptions.ConflictException):
        gw.agent.associate_agent_knowledge_base(
            agentId=agent_id, agentVersion="DRAFT", knowledgeBaseId=kb_id, description="again"
        )
    listed = gw.agent.list_agent_knowledge_bases(agentId=agent_id, agentVersion="DRAFT")[
        "agentKnowledgeBaseSummaries"
    ]
    assert [k["knowledgeBaseId"] for k in listed] == [kb_id]
    gw.agent.update_agent_knowledge_base(
        agentId=agent_id, agentVersion="DRAFT", knowledgeBaseId=kb_id, knowledgeBaseState="DISABLED"
    )
    got = gw.agent.get_agent_knowledge_base(agentId=agent_id, agentVersion="DRAFT", knowledgeBaseId=kb_id)
    assert got["agentKnowledgeBase"]["knowledgeBaseState"] == "DISABLED"
    gw.agent.prepare_agent(agentId=agent_id)
    gw.model.script(text("ok"))
    invoke(gw.runtime, agent_id, "hi")
    assert [t.name for t in gw.model.requests[-1].tools] == ["weather__get_forecast"]  # disabled: no tool
    gw.agent.disassociate_agent_knowledge_base(agentId=agent_id, agentVersion="DRAFT", knowledgeBaseId=kb_id)
    assert (
        gw.agent.list_agent_knowledge_bases(agentId=agent_id, agentVersion="DRAFT")[
            "agentKnowledgeBaseSummaries"
        ]
        == []
    )


def test_inline_agent_with_a_knowledge_base(kb_agent_gateway):
    gw, kb_id = kb_agent_gateway
    gw.model.script(call(_kb_tool(kb_id), {"searchQuery": "warranty on electronics"}), text("Two years."))
    response = gw.runtime.invoke_inline_agent(
        sessionId="inline-kb",
        foundationModel=PLANNER,
        instruction=INSTRUCTION,
        knowledgeBases=[{"knowledgeBaseId": kb_id, "description": "Store policies"}],
        inputText="Warranty?",
    )
    chunks = [e["chunk"] for e in response["completion"] if "chunk" in e]
    assert b"".join(c["bytes"] for c in chunks) == b"Two years."
    refs = chunks[-1]["attribution"]["citations"][0]["retrievedReferences"]
    assert "two-year warranty" in refs[0]["content"]["text"]
