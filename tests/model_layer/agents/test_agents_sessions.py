"""Sessions and memory in the shared state, on SQLite and on a real PostgreSQL.

- the stores themselves (agents, versions, aliases, sessions with leases and idle expiry, memory),
  tenant-isolated, on both backends;
- memory through boto3: ``endSession`` summarizes the session into the ``memoryId``'s memory,
  GetAgentMemory / DeleteAgentMemory, a later session starts with the summary; an idle session
  expires into memory;
- one session runs one invocation at a time (ConflictException);
- a whole agent flow on a gateway whose state is PostgreSQL.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import update

from model_layer.agents import schema
from model_layer.agents.sessions import SessionStore
from model_layer.agents.store import AgentStore
from model_layer.errors import ConflictException, ResourceNotFoundException
from model_layer.state.database import open_database, sqlite_url
from tests.model_layer.agents import functions
from tests.model_layer.agents.harness import function_group, invoke, make_agent, running_gateway
from tests.model_layer.agents.scripted import call, text

MEMORY = {
    "enabledMemoryTypes": ["SESSION_SUMMARY"],
    "storageDays": 30,
    "sessionSummaryConfiguration": {"maxRecentSessions": 5},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "state.db")
    else:
        url = request.getfixturevalue("postgres_url")
    database = open_database(url)
    yield database
    database.dispose()


def test_definitions_are_tenant_scoped(db):
    store = AgentStore(db)
    agent = store.create_agent("acme", "helper", {"instruction": "i" * 40}, None)
    group = store.create_action_group("acme", agent.agent_id, "tools", {"actionGroupName": "tools"})
    store.associate_knowledge_base("acme", agent.agent_id, "KB00000001", "docs", "ENABLED")
    store.set_prepared("acme", agent.agent_id, {"agent": {}, "actionGroups": [], "knowledgeBases": []}, 1.0)
    assert store.create_version("acme", agent.agent_id, {"agent": {"v": 1}}) == 1
    assert store.create_version("acme", agent.agent_id, {"agent": {"v": 2}}) == 2
    alias = store.create_alias(
        "acme", agent.agent_id, "live", {"routingConfiguration": [{"agentVersion": "2"}]}
    )
    assert store.get_agent("acme", agent.agent_id).latest_version == 2
    assert store.list_action_groups("acme", agent.agent_id)[0].action_group_id == group.action_group_id
    for call_ in (
        lambda: store.get_agent("globex", agent.agent_id),
        lambda: store.list_action_groups("globex", agent.agent_id),
        lambda: store.get_alias("globex", agent.agent_id, alias.alias_id),
        lambda: store.get_version("globex", agent.agent_id, 1),
        lambda: store.delete_agent("globex", agent.agent_id),
    ):
        with pytest.raises(ResourceNotFoundException):
            call_()
    assert store.list_agents("globex", 0, 10) == []
    with pytest.raises(ConflictException):
        store.delete_version("acme", agent.agent_id, 2)  # the alias routes to it
    store.delete_agent("acme", agent.agent_id)
    with pytest.raises(ResourceNotFoundException):
        store.get_alias("acme", agent.agent_id, alias.alias_id)


def test_sessions_lease_expire_and_remember(db):
    now = [1000.0]
    sessions = SessionStore(db, clock=lambda: now[0])
    args = {"alias_id": "TSTALIASID", "memory_id": "mem-1", "idle_ttl_s": 600, "lease_s": 30}
    first = sessions.acquire("acme", "AGENT00001", "s-1", **args)
    assert first.is_new and first.state["turns"] == []
    with pytest.raises(ConflictException, match="processing another request"):
        sessions.acquire("acme", "AGENT00001", "s-1", **args)
    other_tenant = sessions.acquire("globex", "AGENT00001", "s-1", **args)  # same id, another tenant
    assert other_tenant.is_new
    first.state["turns"].append({"user": "hi", "assistant": "hello"})
    sessions.save(first)
    now[0] += 100
    again = sessions.acquire("acme", "AGENT00001", "s-1", **args)
    assert not again.is_new and again.state["turns"] == [{"user": "hi", "assistant": "hello"}]
    sessions.release(again)
    now[0] += 700  # idle past the TTL
    fresh = sessions.acquire("acme", "AGENT00001", "s-1", **args)
    assert fresh.is_new and fresh.expired is not None and fresh.expired.state["turns"][0]["user"] == "hi"
    # a lease left behind (a replica died mid-invocation) runs out on its own
    now[0] += 31
    assert not sessions.acquire("acme", "AGENT00001", "s-1", **args).is_new

    sessions.add_summary("acme", "AGENT00001", "mem-1", "s-1", "likes Oslo", 1000.0, keep_days=1)
    sessions.add_summary("acme", "AGENT00001", "mem-1", "s-2", "booked a tent", 2000.0, keep_days=1)
    assert [m.summary for m in sessions.summaries("acme", "AGENT00001", "mem-1")] == [
        "booked a tent",
        "likes Oslo",
    ]
    assert sessions.summaries("globex", "AGENT00001", "mem-1") == []
    now[0] += 2 * 86400
    assert sessions.summaries("acme", "AGENT00001", "mem-1") == []  # past storageDays
    assert sessions.delete_memory("acme", "AGENT00001", "mem-1", None) == 2


def test_memory_through_boto3(gw):
    agent_id = make_agent(gw, function_group(), memoryConfiguration=MEMORY)
    gw.model.script(text("Hello Ann."))
    first = invoke(gw.runtime, agent_id, "I am Ann and I love Oslo.", session="m-1", memoryId="user-1")
    assert first["response"]["memoryId"] == "user-1"
    gw.model.script(text("Goodbye Ann."), text("The user, Ann, loves Oslo."))
    bye = invoke(gw.runtime, agent_id, "Bye!", session="m-1", memoryId="user-1", endSession=True)
    assert bye["text"] == "Goodbye Ann."
    summary_request = gw.model.requests[-1]
    assert "I am Ann and I love Oslo." in summary_request.messages[0]["content"][0]["text"]

    memory = gw.runtime.get_agent_memory(
        agentId=agent_id, agentAliasId="TSTALIASID", memoryId="user-1", memoryType="SESSION_SUMMARY"
    )
    (content,) = memory["memoryContents"]
    assert content["sessionSummary"]["summaryText"] == "The user, Ann, loves Oslo."
    assert (
        content["sessionSummary"]["sessionId"] == "m-1" and content["sessionSummary"]["memoryId"] == "user-1"
    )

    # the ended session is gone; a new one starts with the memory in its prompt
    gw.model.script(text("Welcome back, Ann."))
    invoke(gw.runtime, agent_id, "Hi again", session="m-1", memoryId="user-1")
    request = gw.model.requests[-1]
    assert [m["content"][0]["text"] for m in request.messages] == ["Hi again"]
    assert "The user, Ann, loves Oslo." in request.system[0]["text"]

    _, other = gw.clients_for("globex")
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.get_agent_memory(
            agentId=agent_id, agentAliasId="TSTALIASID", memoryId="user-1", memoryType="SESSION_SUMMARY"
        )
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.delete_agent_memory(agentId=agent_id, agentAliasId="TSTALIASID", memoryId="user-1")
    gw.runtime.delete_agent_memory(agentId=agent_id, agentAliasId="TSTALIASID", memoryId="user-1")
    empty = gw.runtime.get_agent_memory(
        agentId=agent_id, agentAliasId="TSTALIASID", memoryId="user-1", memoryType="SESSION_SUMMARY"
    )
    assert empty["memoryContents"] == []


def test_an_idle_session_expires_into_memory(gw):
    agent_id = make_agent(gw, memoryConfiguration=MEMORY, idleSessionTTLInSeconds=60)
    gw.model.script(text("Noted: window seat."))
    invoke(gw.runtime, agent_id, "I want a window seat.", session="idle-1", memoryId="user-2")
    with gw.parts.keystore.state.db.write() as conn:  # the session sat idle for two minutes
        conn.execute(
            update(schema.agent_sessions).values(updated_at=schema.agent_sessions.c.updated_at - 120)
        )
    gw.model.script(text("Prefers a window seat."), text("Hello!"))
    invoke(gw.runtime, agent_id, "Hello", session="idle-1", memoryId="user-2")
    answer_request = gw.model.requests[-1]
    assert [m["content"][0]["text"] for m in answer_request.messages] == ["Hello"]  # a fresh session
    assert "Prefers a window seat." in answer_request.system[0]["text"]


def test_one_session_runs_one_invocation_at_a_time(gw):
    agent_id = make_agent(gw, function_group(executor={"lambda": functions.arn("blocked")}))
    gw.model.script(call("weather__get_forecast", {"city": "Paris"}), text("done"))
    results: dict = {}

    def first() -> None:
        results["first"] = invoke(gw.runtime, agent_id, "slow one", session="busy")["text"]

    thread = threading.Thread(target=first)
    thread.start()
    deadline = threading.Event()
    for _ in range(500):  # bounded wait until the first invocation is inside the function
        if functions.CALLS:
            break
        deadline.wait(0.01)
    assert functions.CALLS, "the first invocation never reached its function"
    with pytest.raises(
        gw.runtime.exceptions.ConflictException, match="Session busy is processing another request"
    ):
        invoke(gw.runtime, agent_id, "second", session="busy")
    functions.RELEASE.set()
    thread.join(timeout=30)
    assert results["first"] == "done"


def test_agent_flow_on_postgresql(tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv("STRATA_STATE_URL", postgres_url)
    functions.CALLS.clear()
    with running_gateway(tmp_path / "home") as gw:
        assert gw.parts.keystore.state.db.dialect == "postgresql"
        booking = function_group("booking", "book", executor={"customControl": "RETURN_CONTROL"})
        agent_id = make_agent(gw, function_group(), booking, memoryConfiguration=MEMORY)
        alias_id = gw.agent.create_agent_alias(agentId=agent_id, agentAliasName="live")["agentAlias"][
            "agentAliasId"
        ]
        gw.model.script(
            call("weather__get_forecast", {"city": "Oslo"}),
            call("booking__book", {"city": "Oslo"}),
            text("Booked."),
        )
        control = invoke(
            gw.runtime,
            agent_id,
            "Weather and a hotel in Oslo",
            alias=alias_id,
            session="pg-1",
            memoryId="u-1",
        )
        result = {
            "functionResult": {
                "actionGroup": "booking",
                "function": "book",
                "responseBody": {"TEXT": {"body": "B-7"}},
            }
        }
        state = {
            "invocationId": control["return_control"]["invocationId"],
            "returnControlInvocationResults": [result],
        }
        done = invoke(
            gw.runtime, agent_id, None, alias=alias_id, session="pg-1", memoryId="u-1", sessionState=state
        )
        assert done["text"] == "Booked."
        gw.model.script(text("Bye."), text("Booked a hotel in Oslo."))
        invoke(gw.runtime, agent_id, "bye", alias=alias_id, session="pg-1", memoryId="u-1", endSession=True)
        memory = gw.runtime.get_agent_memory(
            agentId=agent_id, agentAliasId=alias_id, memoryId="u-1", memoryType="SESSION_SUMMARY"
        )
        assert memory["memoryContents"][0]["sessionSummary"]["summaryText"] == "Booked a hotel in Oslo."
