"""LangChain tool-calling agents against the gateway: ``ChatBedrockConverse.bind_tools`` over boto3.

The agent is LangChain's own loop (bind tools, invoke, run the ``tool_calls``, send
``ToolMessage``s back, until the model answers), pointed at the gateway through
:func:`model_layer.sdk.langchain.chat_model`. With the deterministic fake model and a scripted
model it proves the wire (tool specs in, ``toolUse`` out, tool results back); with the embedded
SmolLM2 (``-m model``) that its tool calls are valid against the tool's schema (grammar).
"""

from __future__ import annotations

import jsonschema
import pytest
from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from model_layer.sdk.langchain import chat_model
from tests.model_layer.agents.harness import ECHO, PLANNER, models_config, running_gateway
from tests.model_layer.agents.scripted import call, calls, text

LOCAL = "local.smollm2-135m-instruct-v1:0"
SEEN: list[tuple[str, dict]] = []


@tool
def get_forecast(city: str) -> str:
    """The weather forecast for a city."""
    SEEN.append(("get_forecast", {"city": city}))
    return f"{city}: sunny, 24 C"


@tool
def convert_temperature(celsius: float) -> str:
    """Convert a temperature from Celsius to Fahrenheit."""
    SEEN.append(("convert_temperature", {"celsius": celsius}))
    return f"{celsius * 9 / 5 + 32:.0f} F"


TOOLS = {t.name: t for t in (get_forecast, convert_temperature)}


def tool_calling_agent(llm, question: str, max_steps: int = 5) -> tuple[str, list]:
    """LangChain's plain tool-calling loop; the final answer and every model message."""
    bound = llm.bind_tools(list(TOOLS.values()))
    messages = [SystemMessage("You are a weather assistant. Use the tools."), HumanMessage(question)]
    replies = []
    for _ in range(max_steps):
        reply = bound.invoke(messages)
        replies.append(reply)
        messages.append(reply)
        if not reply.tool_calls:
            return reply.text, replies
        for tool_call in reply.tool_calls:
            result = TOOLS[tool_call["name"]].invoke(tool_call["args"])
            messages.append(ToolMessage(result, tool_call_id=tool_call["id"]))
    return "", replies


def _llm(gw, model: str, **kwargs):
    return chat_model(
        gw.url, model, access_key=gw.keys.access_key_id, secret_key=gw.keys.secret_access_key, **kwargs
    )


def test_langchain_agent_on_the_fake_model(gw):
    SEEN.clear()
    answer, replies = tool_calling_agent(_llm(gw, ECHO), "Paris")
    assert SEEN == [
        ("get_forecast", {"city": "Paris"})
    ]  # the fake calls the first tool, input from the question
    assert replies[0].tool_calls[0]["name"] == "get_forecast"
    assert answer == "You said: Paris"


def test_langchain_agent_takes_several_steps(gw):
    SEEN.clear()
    gw.model.script(
        call("get_forecast", {"city": "Rome"}),
        calls(("convert_temperature", {"celsius": 24})),
        text("Rome: sunny, 75 F."),
    )
    answer, replies = tool_calling_agent(_llm(gw, PLANNER), "Weather in Rome in Fahrenheit?")
    assert answer == "Rome: sunny, 75 F." and len(replies) == 3
    assert SEEN == [("get_forecast", {"city": "Rome"}), ("convert_temperature", {"celsius": 24})]
    # the gateway got the tool results back as Converse toolResult blocks
    last = gw.model.requests[-1].messages[-1]["content"][0]["toolResult"]
    assert last["content"][0]["text"] == "75 F" and last["status"] == "success"
    assert [t.name for t in gw.model.requests[0].tools] == ["get_forecast", "convert_temperature"]


@pytest.mark.model
def test_langchain_tool_calls_on_the_embedded_model_fit_their_schema(tmp_path):
    local = {"id": LOCAL, "provider": "local", "upstream": "smollm2-135m-instruct", "context_window": 2048}
    config = models_config([local], [{"name": "local", "type": "local"}])
    with running_gateway(tmp_path / "home", config=config) as gw:
        llm = _llm(gw, LOCAL, max_tokens=64, temperature=0)
        bound = llm.bind_tools([get_forecast], tool_choice="get_forecast")
        reply = bound.invoke([HumanMessage("What is the weather in Paris?")])
    (tool_call,) = reply.tool_calls
    assert tool_call["name"] == "get_forecast"
    jsonschema.validate(tool_call["args"], get_forecast.tool_call_schema.model_json_schema())
