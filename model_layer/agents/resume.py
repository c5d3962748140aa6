"""Resuming a turn after a return of control: the client's results, matched to the calls it was given.

The session keeps the conversation up to the model's tool calls and, per call, either its result
(calls the gateway ran itself) or the invocation input handed to the client. The client answers
with ``sessionState.invocationId`` and ``returnControlInvocationResults``: each ``functionResult``
matches a pending call by action group and function, each ``apiResult`` by action group, API path
and method. An unknown invocation id, a result no call asked for, or a call left without a result
is a ``ValidationException`` that names the field.
"""

from __future__ import annotations

import json
from typing import Any

from model_layer.agents.records import SessionRecord
from model_layer.errors import ValidationException


def resume_messages(
    session: SessionRecord, state: dict[str, Any], session_id: str, field: str = "sessionState"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """The conversation to continue, the turn's references so far, and the turn's input text.

    ``field`` is the request member the state came in (InvokeInlineAgent's is ``inlineSessionState``),
    so that errors name the field the client actually sent.
    """
    pending = session.state.get("pending")
    invocation_id = state.get("invocationId")
    if pending is None:
        raise ValidationException(
            f"{field}.invocationId: session {session_id} has no pending return of control"
            + (f" (got {invocation_id})" if invocation_id else "")
        )
    if invocation_id is not None and invocation_id != pending["invocationId"]:
        raise ValidationException(
            f"{field}.invocationId: {invocation_id} is not the pending invocation of session {session_id}"
        )
    calls = [dict(c) for c in pending["calls"]]
    results_field = f"{field}.returnControlInvocationResults"
    for i, result in enumerate(state["returnControlInvocationResults"], start=1):
        _match(calls, result, i, results_field)["result"] = _result_block(result)
    for call in calls:
        if call["result"] is None:
            raise ValidationException(f"{results_field}: no result for {_describe(call['input'])}")
    blocks = []
    for call in calls:
        block = call["result"]
        blocks.append({"toolResult": {**block["toolResult"], "toolUseId": call["toolUseId"]}})
    messages = [*pending["messages"], {"role": "user", "content": blocks}]
    return messages, list(pending.get("references") or []), pending.get("inputText", "")


def _match(
    calls: list[dict[str, Any]], result: dict[str, Any], index: int, results_field: str
) -> dict[str, Any]:
    kind = "functionResult" if "functionResult" in result else "apiResult"
    answer = result[kind]
    for call in calls:
        given = call["input"]
        if call["result"] is not None or given is None:
            continue
        if kind == "functionResult" and "functionInvocationInput" in given:
            asked = given["functionInvocationInput"]
            if asked["actionGroup"] == answer.get("actionGroup") and asked.get("function") == answer.get(
                "function"
            ):
                return call
        if kind == "apiResult" and "apiInvocationInput" in given:
            asked = given["apiInvocationInput"]
            same_path = asked.get("apiPath") == answer.get("apiPath")
            same_verb = str(asked.get("httpMethod", "")).upper() == str(answer.get("httpMethod", "")).upper()
            if asked["actionGroup"] == answer.get("actionGroup") and same_path and same_verb:
                return call
    what = answer.get("function") or f"{answer.get('httpMethod')} {answer.get('apiPath')}"
    raise ValidationException(
        f"{results_field}.{index}.member.{kind}: no pending call of {what} in action group "
        f"{answer.get('actionGroup')}"
    )


def _result_block(result: dict[str, Any]) -> dict[str, Any]:
    answer = result.get("functionResult") or result.get("apiResult") or {}
    bodies = answer.get("responseBody") or {}
    texts = [b.get("body", "") if isinstance(b, dict) else str(b) for b in bodies.values()]
    text = "\n".join(t if isinstance(t, str) else json.dumps(t) for t in texts) or "(no output)"
    status = answer.get("httpStatusCode")
    failed = answer.get("responseState") == "FAILURE" or (isinstance(status, int) and status >= 400)
    if answer.get("confirmationState") == "DENY":
        text, failed = "The user denied this action.", True
    return {
        "toolResult": {
            "toolUseId": "",
            "content": [{"text": text}],
            "status": "error" if failed else "success",
        }
    }


def _describe(given: dict[str, Any]) -> str:
    if "functionInvocationInput" in given:
        f = given["functionInvocationInput"]
        return f"function {f.get('function')} of action group {f['actionGroup']}"
    a = given["apiInvocationInput"]
    return f"{a.get('httpMethod')} {a.get('apiPath')} of action group {a['actionGroup']}"
