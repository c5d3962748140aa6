"""An agent's guardrail on its input and its answer, with the gateway's real guardrails.

A guardrail is created through boto3's ``bedrock`` client and named in the agent's
``guardrailConfiguration``: blocked input never reaches the model (the answer is the guardrail's
blocked-input message), a blocked answer is replaced by the blocked-output message, anonymized
input reaches the model masked, and each check is a ``guardrailTrace``. An unknown guardrail is
refused when the agent is created.
"""

from __future__ import annotations

import boto3
import pytest

from tests.model_layer.agents.harness import INSTRUCTION, PLANNER, function_group, invoke, make_agent
from tests.model_layer.agents.scripted import text

GUARDRAIL = {
    "name": "travel-guard",
    "wordPolicyConfig": {"wordsConfig": [{"text": "casino"}]},
    "sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
    "blockedInputMessaging": "I can't help with that request.",
    "blockedOutputsMessaging": "I can't share that answer.",
}


@pytest.fixture
def guarded(gw):
    bedrock = boto3.client(
        "bedrock",
        endpoint_url=gw.url,
        region_name="us-east-1",
        aws_access_key_id=gw.keys.access_key_id,
        aws_secret_access_key=gw.keys.secret_access_key,
    )
    guardrail_id = bedrock.create_guardrail(**GUARDRAIL)["guardrailId"]
    config = {"guardrailIdentifier": guardrail_id, "guardrailVersion": "DRAFT"}
    agent_id = make_agent(gw, function_group(), guardrailConfiguration=config)
    return gw, agent_id


def test_blocked_input_never_reaches_the_model(guarded):
    gw, agent_id = guarded
    out = invoke(gw.runtime, agent_id, "Find me a casino in Oslo", enableTrace=True)
    assert out["text"] == "I can't help with that request."
    assert gw.model.requests == []
    trace = out["traces"][0]["trace"]["guardrailTrace"]
    assert trace["action"] == "INTERVENED"
    assert trace["inputAssessments"][0]["wordPolicy"]["customWords"][0]["match"] == "casino"


def test_blocked_answer_is_replaced(guarded):
    gw, agent_id = guarded
    gw.model.script(text("The best casino is downtown."))
    out = invoke(gw.runtime, agent_id, "What should I do tonight?", enableTrace=True)
    assert out["text"] == "I can't share that answer."
    guard_traces = [t["trace"]["guardrailTrace"] for t in out["traces"] if "guardrailTrace" in t["trace"]]
    assert [t["action"] for t in guard_traces] == ["NONE", "INTERVENED"]
    assert "outputAssessments" in guard_traces[1]


def test_anonymized_input_reaches_the_model_masked(guarded):
    gw, agent_id = guarded
    gw.model.script(text("Noted."))
    invoke(gw.runtime, agent_id, "Mail the itinerary to ann@example.com please")
    assert gw.model.requests[0].messages[-1]["content"][0]["text"] == "Mail the itinerary to {EMAIL} please"


def test_unknown_guardrail_is_refused(gw):
    config = {"guardrailIdentifier": "nosuchguard1", "guardrailVersion": "DRAFT"}
    with pytest.raises(gw.agent.exceptions.ResourceNotFoundException):
        gw.agent.create_agent(
            agentName="g", foundationModel=PLANNER, instruction=INSTRUCTION, guardrailConfiguration=config
        )
