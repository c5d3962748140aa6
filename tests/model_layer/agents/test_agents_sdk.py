"""The SDK's agents client (``model_layer.sdk.AgentsClient`` / ``AsyncAgentsClient``) against a live gateway.

Define (agent, function action group, prepare, alias), invoke with traces, return of control and
its resumption, memory, and typed errors (before and inside the stream), with SigV4 and API keys.
"""

from __future__ import annotations

import asyncio

import pytest

from model_layer.sdk import (
    AgentChunk,
    AgentReturnControl,
    AgentsClient,
    AgentTrace,
    AsyncAgentsClient,
    ConflictError,
    DependencyFailedError,
    ResourceNotFoundError,
    ValidationError,
    function,
)
from tests.model_layer.agents import functions
from tests.model_layer.agents.harness import INSTRUCTION, PLANNER
from tests.model_layer.agents.scripted import call, text


@pytest.fixture
def client(gw):
    with AgentsClient(
        gw.url, access_key=gw.keys.access_key_id, secret_key=gw.keys.secret_access_key
    ) as agents:
        yield agents


def _weather_agent(client) -> str:
    agent_id = client.create_agent("sdk-agent", model=PLANNER, instruction=INSTRUCTION)
    client.create_action_group(
        agent_id,
        "weather",
        lambda_arn=functions.arn("weather"),
        functions=[function("get_forecast", "The forecast for a city", city="string")],
    )
    client.create_action_group(
        agent_id,
        "booking",
        return_control=True,
        functions=[function("book", "Book a hotel", city="string", nights="integer", required=("city",))],
    )
    assert client.prepare_agent(agent_id) == "PREPARED"
    return agent_id


def test_define_and_ask(gw, client):
    agent_id = _weather_agent(client)
    gw.model.script(call("weather__get_forecast", {"city": "Oslo"}), text("Rain in Oslo."))
    events = list(client.invoke(agent_id, "Oslo?", session_id="sdk-1", enable_trace=True))
    assert isinstance(events[-1], AgentChunk) and events[-1].text == "Rain in Oslo."
    assert any(isinstance(e, AgentTrace) and "orchestrationTrace" in e.trace for e in events)
    tools = {t.name: t.input_schema for t in gw.model.requests[0].tools}
    assert tools["booking__book"]["required"] == ["city"]
    assert tools["booking__book"]["properties"]["nights"] == {"type": "integer"}
    alias_id = client.create_alias(agent_id, "live")
    gw.model.script(text("Hello from v1."))
    assert client.ask(agent_id, "hi", session_id="sdk-2", alias_id=alias_id).text == "Hello from v1."
    assert [a["agentId"] for a in client.list_agents()] == [agent_id]


def test_return_control_through_the_sdk(gw, client):
    agent_id = _weather_agent(client)
    gw.model.script(call("booking__book", {"city": "Rome", "nights": 2}), text("Booked R-9 for 2 nights."))
    first = client.ask(agent_id, "Book Rome for 2 nights", session_id="sdk-rc")
    assert isinstance(first.return_control, AgentReturnControl) and first.text == ""
    (given,) = first.return_control.inputs
    assert given["functionInvocationInput"]["parameters"] == [
        {"name": "city", "type": "string", "value": "Rome"},
        {"name": "nights", "type": "integer", "value": "2"},
    ]
    result = {
        "functionResult": {
            "actionGroup": "booking",
            "function": "book",
            "responseBody": {"TEXT": {"body": "R-9"}},
        }
    }
    done = client.return_results(agent_id, first.return_control, [result], session_id="sdk-rc")
    assert done.text == "Booked R-9 for 2 nights."


def test_typed_errors(gw, client):
    with pytest.raises(ResourceNotFoundError):
        client.ask("NOAGENT000", "hi", session_id="sdk-e")
    agent_id = client.create_agent("unprepared", model=PLANNER, instruction=INSTRUCTION)
    with pytest.raises(ConflictError):
        client.ask(agent_id, "hi", session_id="sdk-e")
    with pytest.raises(ValidationError, match="sessionId"):
        client.ask(agent_id, "hi", session_id="not valid!")
    looping = _weather_agent_named(client, "looping")
    gw.model.policy = lambda request: call("weather__get_forecast", {"city": "Oslo"})
    with pytest.raises(DependencyFailedError, match="Max iterations exceeded"):
        client.ask(looping, "loop", session_id="sdk-loop")


def _weather_agent_named(client, name: str) -> str:
    agent_id = client.create_agent(name, model=PLANNER, instruction=INSTRUCTION)
    client.create_action_group(
        agent_id,
        "weather",
        lambda_arn=functions.arn("weather"),
        functions=[function("get_forecast", "Forecast", city="string")],
    )
    client.prepare_agent(agent_id)
    return agent_id


def test_memory_and_api_key_auth(gw):
    with AgentsClient(gw.url, api_key=gw.keys.api_key) as client:
        memory = {"enabledMemoryTypes": ["SESSION_SUMMARY"]}
        agent_id = client.create_agent(
            "mem", model=PLANNER, instruction=INSTRUCTION, memoryConfiguration=memory
        )
        client.prepare_agent(agent_id)
        gw.model.script(text("Noted."), text("The user likes trains."))
        client.ask(agent_id, "I like trains", session_id="sdk-m", memory_id="user-9", end_session=True)
        (summary,) = client.get_memory(agent_id, "user-9")
        assert summary["summaryText"] == "The user likes trains."
        client.delete_memory(agent_id, "user-9")
        assert client.get_memory(agent_id, "user-9") == []


def test_async_client(gw, client):
    agent_id = _weather_agent(client)
    gw.model.script(call("weather__get_forecast", {"city": "Paris"}), text("Sunny."))

    async def ask() -> str:
        keys = gw.keys
        async with AsyncAgentsClient(
            gw.url, access_key=keys.access_key_id, secret_key=keys.secret_access_key
        ) as agents:
            return (await agents.ask(agent_id, "Paris?", session_id="sdk-async")).text

    assert asyncio.run(ask()) == "Sunny."
