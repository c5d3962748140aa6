"""Return of control, HTTP action groups and inline agents, through boto3.

- ``customControl: RETURN_CONTROL``: the stream ends with ``returnControl`` (function and API
  invocation inputs); the client's ``returnControlInvocationResults`` resume the same turn; an
  unknown invocation id or a result nobody asked for is a ValidationException naming the field;
- an OpenAPI action group with ``servers[0].url`` is called over HTTP (a loopback server);
- InvokeInlineAgent (``POST /agents/{sessionId}``) next to PrepareAgent (``POST /agents/{agentId}/``)
  on the same base URL.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.model_layer.agents import functions
from tests.model_layer.agents.harness import (
    INSTRUCTION,
    ORDERS_OPENAPI,
    PLANNER,
    agent_settings,
    api_group,
    function_group,
    invoke,
    make_agent,
    running_gateway,
)
from tests.model_layer.agents.scripted import call, calls, text

RETURN = {"customControl": "RETURN_CONTROL"}


def _booking_result(body: str = "Booked: B-42") -> dict:
    return {
        "functionResult": {
            "actionGroup": "booking",
            "function": "book",
            "responseBody": {"TEXT": {"body": body}},
        }
    }


def test_return_control_round_trip(gw):
    agent_id = make_agent(gw, function_group("booking", "book", executor=RETURN), function_group())
    gw.model.script(
        calls(("booking__book", {"city": "Oslo"}), ("weather__get_forecast", {"city": "Oslo"})),
        text("Booked B-42; expect rain."),
    )
    first = invoke(gw.runtime, agent_id, "Book a hotel in Oslo", enableTrace=True)
    assert first["text"] == "" and first["return_control"] is not None
    control = first["return_control"]
    assert control["invocationInputs"] == [
        {
            "functionInvocationInput": {
                "actionGroup": "booking",
                "actionInvocationType": "RESULT",
                "agentId": agent_id,
                "function": "book",
                "parameters": [{"name": "city", "type": "string", "value": "Oslo"}],
            }
        }
    ]
    execution = [
        t["trace"]["orchestrationTrace"]["invocationInput"]["actionGroupInvocationInput"]["executionType"]
        for t in first["traces"]
        if "invocationInput" in t["trace"].get("orchestrationTrace", {})
    ]
    assert execution == ["RETURN_CONTROL", "LAMBDA"]  # the weather call ran in the gateway meanwhile
    assert len(functions.CALLS) == 1

    state = {"invocationId": control["invocationId"], "returnControlInvocationResults": [_booking_result()]}
    second = invoke(gw.runtime, agent_id, None, sessionState=state)
    assert second["text"] == "Booked B-42; expect rain."
    results = gw.model.requests[-1].messages[-1]["content"]
    # the client's result and the one the gateway ran, in the order the model called them
    assert [r["toolResult"]["content"][0]["text"] for r in results] == [
        "Booked: B-42",
        "Forecast for oslo: rain, 9 C",
    ]
    # the turn is one turn of the session: its question and final answer
    gw.model.script(text("ok"))
    invoke(gw.runtime, agent_id, "Thanks")
    history = [m["content"][0]["text"] for m in gw.model.requests[-1].messages]
    assert history == ["Book a hotel in Oslo", "Booked B-42; expect rain.", "Thanks"]


def test_return_control_for_an_api_operation(gw):
    agent_id = make_agent(gw, api_group(executor=RETURN))
    gw.model.script(call("orders__createOrder", {"item": "tent", "quantity": 1}), text("Ordered."))
    control = invoke(gw.runtime, agent_id, "Order a tent")["return_control"]
    (given,) = control["invocationInputs"]
    api = given["apiInvocationInput"]
    assert (api["actionGroup"], api["apiPath"], api["httpMethod"]) == ("orders", "/orders", "POST")
    props = api["requestBody"]["content"]["application/json"]["properties"]
    assert {p["name"]: p["value"] for p in props} == {"item": "tent", "quantity": "1"}
    result = {
        "apiResult": {
            "actionGroup": "orders",
            "apiPath": "/orders",
            "httpMethod": "POST",
            "httpStatusCode": 200,
            "responseBody": {"application/json": {"body": json.dumps({"orderId": "O-1"})}},
        }
    }
    state = {"invocationId": control["invocationId"], "returnControlInvocationResults": [result]}
    assert invoke(gw.runtime, agent_id, None, sessionState=state)["text"] == "Ordered."


def test_bad_return_control_results_are_refused(gw):
    agent_id = make_agent(gw, function_group("booking", "book", executor=RETURN))
    no_pending = {
        "invocationId": "0f7e0d7c-0000-4000-8000-000000000000",
        "returnControlInvocationResults": [_booking_result()],
    }
    with pytest.raises(
        gw.runtime.exceptions.ValidationException,
        match=r"sessionState\.invocationId: session s-1 has no pending",
    ):
        invoke(gw.runtime, agent_id, None, sessionState=no_pending)

    gw.model.script(call("booking__book", {"city": "Rome"}), text("Done."))
    control = invoke(gw.runtime, agent_id, "Book Rome")["return_control"]
    wrong_id = {**no_pending}
    with pytest.raises(gw.runtime.exceptions.ValidationException, match="is not the pending invocation"):
        invoke(gw.runtime, agent_id, None, sessionState=wrong_id)
    stray = {
        "invocationId": control["invocationId"],
        "returnControlInvocationResults": [
            {
                "functionResult": {
                    "actionGroup": "booking",
                    "function": "cancel",
                    "responseBody": {"TEXT": {"body": "x"}},
                }
            }
        ],
    }
    with pytest.raises(
        gw.runtime.exceptions.ValidationException,
        match=r"returnControlInvocationResults\.1\.member\.functionResult: no pending call of cancel",
    ):
        invoke(gw.runtime, agent_id, None, sessionState=stray)
    # the refusals changed nothing: the right result still resumes the turn
    good = {"invocationId": control["invocationId"], "returnControlInvocationResults": [_booking_result()]}
    assert invoke(gw.runtime, agent_id, None, sessionState=good)["text"] == "Done."


class _Orders(BaseHTTPRequestHandler):
    seen: ClassVar[list] = []

    def _answer(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        type(self).seen.append(("GET", self.path, self.headers.get("x-trace"), None))
        self._answer({"orderId": self.path.rsplit("/", 1)[-1], "status": "delivered"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).seen.append(("POST", self.path, None, body))
        self._answer({"created": body}, status=201)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def orders_server():
    _Orders.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Orders)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_http_action_group_calls_the_api(tmp_path, orders_server):
    host = orders_server.removeprefix("http://")
    schema = json.loads(json.dumps(ORDERS_OPENAPI))
    schema["servers"] = [{"url": orders_server + "/v1"}]
    schema["paths"]["/orders/{orderId}"]["get"]["parameters"].append(
        {"name": "x-trace", "in": "header", "schema": {"type": "string"}}
    )
    with running_gateway(tmp_path / "home", settings=agent_settings(http_allowed_hosts=[host])) as gw:
        agent_id = make_agent(gw, api_group(executor=False, schema=schema))
        gw.model.script(
            calls(
                ("orders__getOrder", {"orderId": "A 17", "x-trace": "t-1"}),
                ("orders__createOrder", {"item": "stove", "quantity": 3}),
            ),
            text("Delivered, and the stove is ordered."),
        )
        assert (
            invoke(gw.runtime, agent_id, "A 17? And 3 stoves.")["text"]
            == "Delivered, and the stove is ordered."
        )
    assert _Orders.seen == [
        ("GET", "/v1/orders/A%2017", "t-1", None),
        ("POST", "/v1/orders", None, {"item": "stove", "quantity": 3}),
    ]
    results = gw.model.requests[1].messages[-1]["content"]
    assert json.loads(results[0]["toolResult"]["content"][0]["text"])["status"] == "delivered"


def test_inline_agent_next_to_prepare_agent(gw):
    # PrepareAgent is POST /agents/{agentId}/ and InvokeInlineAgent POST /agents/{sessionId}: one base URL
    agent_id = make_agent(gw, function_group(), prepare=False)
    assert gw.agent.prepare_agent(agentId=agent_id)["agentStatus"] == "PREPARED"
    gw.model.script(call("weather__get_forecast", {"city": "Paris"}), text("Sunny (inline)."))
    response = gw.runtime.invoke_inline_agent(
        sessionId="inline-1",
        foundationModel=PLANNER,
        instruction=INSTRUCTION,
        actionGroups=[function_group()],
        inputText="Paris?",
        enableTrace=True,
    )
    answer, traces = "", []
    for event in response["completion"]:
        if "chunk" in event:
            answer += event["chunk"]["bytes"].decode()
        elif "trace" in event:
            traces.append(event["trace"])
    assert answer == "Sunny (inline)." and response["sessionId"] == "inline-1"
    assert functions.CALLS[0]["agent"]["id"] == "INLINE" and "agentId" not in traces[0]
    with pytest.raises(
        gw.runtime.exceptions.ValidationException, match=r"actionGroups\.1\.member: .*duplicate function name"
    ):
        bad = function_group()
        bad["functionSchema"]["functions"] *= 2
        gw.runtime.invoke_inline_agent(
            sessionId="inline-2",
            foundationModel=PLANNER,
            instruction=INSTRUCTION,
            actionGroups=[bad],
            inputText="x",
        )


def test_another_tenants_inline_session_is_not_shared(gw):
    # inline sessions are keyed by sessionId alone on the wire: the tenant keeps them apart
    def inline(runtime, text=None, state=None):
        args = {"sessionId": "shared-1", "foundationModel": PLANNER, "instruction": INSTRUCTION}
        args["actionGroups"] = [function_group("booking", "book", executor=RETURN)]
        if text is not None:
            args["inputText"] = text
        if state is not None:
            args["inlineSessionState"] = state
        out = {"text": "", "return_control": None}
        for event in runtime.invoke_inline_agent(**args)["completion"]:
            if "chunk" in event:
                out["text"] += event["chunk"]["bytes"].decode()
            elif "returnControl" in event:
                out["return_control"] = event["returnControl"]
        return out

    gw.model.script(call("booking__book", {"city": "Oslo"}))
    control = inline(gw.runtime, "Book Oslo for Ann")["return_control"]
    _, other = gw.clients_for("globex")
    stolen = {"invocationId": control["invocationId"], "returnControlInvocationResults": [_booking_result()]}
    with pytest.raises(
        other.exceptions.ValidationException,
        match=r"inlineSessionState\.invocationId: session shared-1 has no pending",
    ):
        inline(other, state=stolen)
    gw.model.script(text("Hello."))
    assert inline(other, "Who booked what?")["text"] == "Hello."
    seen = [m["content"][0].get("text") for m in gw.model.requests[-1].messages]
    assert seen == ["Who booked what?"]  # nothing of acme's conversation
    # the owner's pending call is untouched and resumes
    gw.model.script(text("Booked B-42."))
    assert inline(gw.runtime, state=stolen)["text"] == "Booked B-42."
