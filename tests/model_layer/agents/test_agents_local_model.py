"""An agent on the embedded SmolLM2 (llama.cpp): its tool calls are grammar-constrained JSON.

SmolLM2-135M has no native tool calling; the local provider constrains its output to
``{"name": <tool>, "input": <that tool's schema>}`` or an answer. Whatever the small model decides,
every call it makes must reach the action group valid (no REPROMPT for bad input), and the
invocation must end (an answer, or the loop's iteration limit) in bounded time.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import EventStreamError

from tests.model_layer.agents import functions
from tests.model_layer.agents.harness import (
    agent_settings,
    boto_clients,
    function_group,
    make_agent,
    models_config,
    running_gateway,
)

LOCAL = "local.smollm2-135m-instruct-v1:0"
SHORT = {
    "promptConfigurations": [
        {
            "promptType": "ORCHESTRATION",
            "promptCreationMode": "DEFAULT",
            "inferenceConfiguration": {"maximumLength": 48, "temperature": 0.0},
        }
    ]
}


@pytest.mark.model
def test_embedded_model_agent_calls_tools_validly(tmp_path):
    local = {"id": LOCAL, "provider": "local", "upstream": "smollm2-135m-instruct", "context_window": 2048}
    config = models_config([local], [{"name": "local", "type": "local"}])
    functions.CALLS.clear()
    with running_gateway(tmp_path / "home", config=config, settings=agent_settings(max_iterations=3)) as gw:
        agent_id = make_agent(gw, function_group(), model=LOCAL, promptOverrideConfiguration=SHORT)
        _, runtime = boto_clients(gw.url, gw.keys, read_timeout=300)
        response = runtime.invoke_agent(
            agentId=agent_id,
            agentAliasId="TSTALIASID",
            sessionId="local-1",
            inputText="Use the forecast tool: what is the weather in Paris?",
            enableTrace=True,
        )
        steps, answer = [], ""
        try:
            for event in response["completion"]:
                if "trace" in event and "orchestrationTrace" in event["trace"]["trace"]:
                    steps.append(event["trace"]["trace"]["orchestrationTrace"])
                elif "chunk" in event:
                    answer += event["chunk"]["bytes"].decode()
        except EventStreamError as exc:  # a small model may keep calling the tool: the loop stops it
            assert "Max iterations exceeded" in exc.response["Error"]["Message"]
    calls = [s["invocationInput"]["actionGroupInvocationInput"] for s in steps if "invocationInput" in s]
    reprompts = [s for s in steps if s.get("observation", {}).get("type") == "REPROMPT"]
    assert reprompts == []  # no call was invalid against its schema
    for call in calls:
        assert call["function"] == "get_forecast"
        assert [p["name"] for p in call["parameters"]] == ["city"]
    assert len(functions.CALLS) == len(calls)
    assert calls or answer  # it either used the tool or answered
