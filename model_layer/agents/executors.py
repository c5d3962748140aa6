"""Action-group executors: Lambda functions (as registered Python callables or URLs) and HTTP APIs.

**The Lambda convention.** An action group's ``actionGroupExecutor.lambda`` is a Lambda ARN,
``arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]``. The gateway runs no Lambda:
it looks ``<name>:<qualifier>``, then ``<name>``, up in

1. ``STRATA_AGENTS_FUNCTIONS`` (JSON ``{"<name>": "<target>"}``), then
2. the ``strata.agent_functions`` entry-point group (entry-point name = function name), e.g.::

       [project.entry-points."strata.agent_functions"]
       book-hotel = "my_package.hotel:lambda_handler"

A target ``"module:callable"`` is called as a Lambda handler, ``handler(event, context)`` (sync
handlers run in a worker thread, async ones on the loop); a target that is an ``http(s)://`` URL
receives the event as a JSON POST and answers the handler's return value (a Lambda function URL).
The event and the expected response are Bedrock's own (``messageVersion`` 1.0, ``agent``,
``actionGroup``, ``function`` or ``apiPath``/``httpMethod``, ``parameters``, ``requestBody``,
``sessionAttributes``, ``promptSessionAttributes``), so a handler written for Bedrock runs unchanged.

**HTTP.** An OpenAPI action group with no executor and a ``servers[0].url`` is called directly:
the operation's verb and path, path/query/header parameters, the JSON body. Only hosts the operator
allows (``STRATA_AGENTS_HTTP_ALLOWED_HOSTS``) are called, and redirects are not followed.

Failures of the executor (it raised, timed out, answered garbage, the host refused) are returned
as an :class:`Outcome` with ``failed=True``: the loop shows them to the model as an observation.
Only a response that itself says ``responseState: FAILURE`` ends the invocation, as on Bedrock.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from model_layer import plugins
from model_layer.agents.settings import AgentSettings

log = logging.getLogger("strata.agents")

AGENT_FUNCTIONS = "strata.agent_functions"
LAMBDA_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:([a-zA-Z0-9_.-]+)(?::([$a-zA-Z0-9_-]+))?"
)
MAX_OBSERVATION_CHARS = 20_000  # what one tool result may put in front of the model


@dataclass
class Invocation:
    """One executor call, in the terms of Bedrock's Lambda input event."""

    agent: dict[str, str]  # {name, id, alias, version}
    session_id: str
    input_text: str
    action_group: str
    parameters: list[dict[str, str]]  # [{name, type, value}], values as strings
    function: str | None = None
    api_path: str | None = None
    http_method: str | None = None
    body: dict[str, Any] | None = None  # the JSON body (API operations), values typed
    session_attributes: dict[str, str] = field(default_factory=dict)
    prompt_session_attributes: dict[str, str] = field(default_factory=dict)

    def lambda_event(self) -> dict[str, Any]:
        event: dict[str, Any] = {
            "messageVersion": "1.0",
            "agent": self.agent,
            "inputText": self.input_text,
            "sessionId": self.session_id,
            "actionGroup": self.action_group,
            "parameters": self.parameters,
            "sessionAttributes": self.session_attributes,
            "promptSessionAttributes": self.prompt_session_attributes,
        }
        if self.function is not None:
            event["function"] = self.function
        else:
            event["apiPath"], event["httpMethod"] = self.api_path, self.http_method
            if self.body is not None:
                props = [{"name": k, "type": _type_of(v), "value": as_text(v)} for k, v in self.body.items()]
                event["requestBody"] = {"content": {"application/json": {"properties": props}}}
        return event


@dataclass
class Outcome:
    text: str
    failed: bool = False  # the executor itself failed: the model sees the error as its observation
    response_state: str | None = None  # FAILURE | REPROMPT, as the function answered
    status_code: int | None = None
    session_attributes: dict[str, str] | None = None
    prompt_session_attributes: dict[str, str] | None = None


def as_text(value: Any) -> str:
    """A parameter value as Bedrock sends it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "string"


def lambda_name(arn: str) -> tuple[str, str | None] | None:
    match = LAMBDA_ARN.fullmatch(arn)
    return (match.group(1), match.group(2)) if match else None


class FunctionRegistry:
    """Lambda function name → target (a callable, or a URL), per the convention above."""

    def __init__(self, settings: AgentSettings):
        self.settings = settings

    def target(self, arn: str) -> Any | None:
        parsed = lambda_name(arn)
        if parsed is None:
            return None
        name, qualifier = parsed
        keys = [f"{name}:{qualifier}", name] if qualifier else [name]
        registered = plugins.load(AGENT_FUNCTIONS)
        for key in keys:
            if key in self.settings.functions:
                return _resolve(self.settings.functions[key])
            if key in registered:
                return registered[key]
        return None


def _resolve(target: str) -> Any:
    if target.startswith(("http://", "https://")):
        return target
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class LambdaContext:
    """The parts of AWS Lambda's context object handlers commonly read."""

    def __init__(self, name: str, deadline: float):
        self.function_name = name
        self.function_version = "$LATEST"
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 128
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


async def call_lambda(target: Any, arn: str, invocation: Invocation, timeout_s: float) -> Outcome:
    """Run a registered Lambda target; never raises for the function's own failures."""
    event = invocation.lambda_event()
    name = (lambda_name(arn) or (arn, None))[0]
    try:
        async with asyncio.timeout(timeout_s):
            if isinstance(target, str):
                answer = await _post_json(target, event, timeout_s)
            elif inspect.iscoroutinefunction(target):
                answer = await target(event, LambdaContext(name, time.monotonic() + timeout_s))
            else:
                # A sync handler runs in a worker thread; on timeout the loop moves on (Python cannot
                # stop a thread), as a Lambda that overran its timeout is abandoned by Bedrock.
                context = LambdaContext(name, time.monotonic() + timeout_s)
                answer = await asyncio.to_thread(target, event, context)
    except TimeoutError:
        return Outcome(f"The function {name} did not answer within {timeout_s:g} s.", failed=True)
    except Exception as exc:
        log.warning("agent function %s failed", name, exc_info=exc)
        return Outcome(f"The function {name} failed: {type(exc).__name__}: {exc}"[:2000], failed=True)
    return parse_lambda_response(answer, invocation, name)


async def _post_json(url: str, event: dict[str, Any], timeout_s: float) -> Any:
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
        response = await client.post(url, json=event)
        response.raise_for_status()
        return response.json()


def parse_lambda_response(answer: Any, invocation: Invocation, name: str) -> Outcome:
    """Bedrock's Lambda response: ``response.functionResponse.responseBody.TEXT.body`` (functions)
    or ``response.responseBody["application/json"].body`` (API operations)."""
    try:
        response = answer["response"]
        if invocation.function is not None:
            result = response["functionResponse"]
            bodies, state, status = result.get("responseBody") or {}, result.get("responseState"), None
        else:
            bodies, state = response.get("responseBody") or {}, response.get("responseState")
            status = response.get("httpStatusCode")
        text = _body_text(bodies)
    except (KeyError, TypeError, AttributeError):
        snippet = json.dumps(answer, default=str)[:300]
        return Outcome(
            f"The function {name} returned a response Bedrock agents cannot read: {snippet}", failed=True
        )
    return Outcome(
        text[:MAX_OBSERVATION_CHARS],
        response_state=state if state in ("FAILURE", "REPROMPT") else None,
        status_code=status if isinstance(status, int) else None,
        session_attributes=_str_map(answer.get("sessionAttributes")),
        prompt_session_attributes=_str_map(answer.get("promptSessionAttributes")),
    )


def _body_text(bodies: dict[str, Any]) -> str:
    for key in ("TEXT", "application/json", *bodies):
        if key in bodies:
            body = bodies[key]["body"]
            return body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    raise KeyError("responseBody")


def _str_map(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def host_allowed(url: str, allowed: list[str]) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return host in allowed or f"{host}:{port}" in allowed


async def call_http(
    base_url: str, invocation: Invocation, locations: dict[str, str], settings: AgentSettings
) -> Outcome:
    """Call an OpenAPI operation on its server; the status and body become the observation."""
    if not host_allowed(base_url, settings.http_allowed_hosts):
        return Outcome(f"The host of {base_url} is not allowed for HTTP action groups.", failed=True)
    path, query, headers = invocation.api_path or "/", {}, {}
    for param in invocation.parameters:
        where = locations.get(param["name"], "query")
        if where == "path":
            path = path.replace("{" + param["name"] + "}", quote(param["value"], safe=""))
        elif where == "header":
            headers[param["name"]] = param["value"]
        else:
            query[param["name"]] = param["value"]
    url = base_url.rstrip("/") + path
    try:
        async with httpx.AsyncClient(
            timeout=settings.step_timeout_s, follow_redirects=False, trust_env=False
        ) as client:
            response = await client.request(
                invocation.http_method or "GET", url, params=query, headers=headers, json=invocation.body
            )
    except httpx.TimeoutException:
        return Outcome(f"{invocation.http_method} {invocation.api_path} did not answer in time.", failed=True)
    except httpx.HTTPError as exc:
        return Outcome(
            f"{invocation.http_method} {invocation.api_path} failed: {type(exc).__name__}", failed=True
        )
    text = response.text[:MAX_OBSERVATION_CHARS]
    return Outcome(text, failed=response.status_code >= 500, status_code=response.status_code)
