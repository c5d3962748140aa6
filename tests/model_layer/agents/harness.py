"""A real gateway for agent tests, served on loopback and driven by boto3 with SigV4.

Everything is production code (``assemble`` + ``create_app``, the agents subsystem over the shared
state, the model service with limits and metering) except the models: ``scripted.planner-v1:0`` is
:class:`~tests.model_layer.agents.scripted.ScriptedProvider` (its answers set by the test) and
``fake.echo-v1:0`` the deterministic fake provider. State is SQLite in the test's home, or the
PostgreSQL server of the test session when ``state_url`` is given.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from model_layer.agents import AgentSettings, build_agents
from model_layer.app import assemble, create_app
from model_layer.config import parse_config
from model_layer.providers.registry import ModelRouter
from model_layer.settings import GatewaySettings
from tests.model_layer.agents import functions
from tests.model_layer.agents.scripted import ScriptedProvider
from tests.model_layer.gateway_harness import committed_usage
from tests.model_layer.live import serve_app

PLANNER = "scripted.planner-v1:0"
ECHO = "fake.echo-v1:0"
INSTRUCTION = "You are a travel assistant. Help the user with forecasts, orders and bookings."


def models_config(
    extra_models: list[dict[str, Any]] | None = None, extra_providers: list | None = None
) -> dict:
    return {
        "providers": [
            {"name": "scripted", "type": "fake"},  # the instance is injected: see build()
            {"name": "fake", "type": "fake"},
            *(extra_providers or []),
        ],
        "models": [
            {"id": PLANNER, "provider": "scripted", "provider_name": "Strata"},
            {"id": ECHO, "provider": "fake", "provider_name": "Strata"},
            *(extra_models or []),
        ],
        "retry": {"max_attempts": 1},
    }


@dataclass
class AgentGateway:
    url: str
    app: Any
    parts: Any
    model: ScriptedProvider
    agent: Any  # boto3 bedrock-agent client of tenant "acme"
    runtime: Any  # boto3 bedrock-agent-runtime client of tenant "acme"
    keys: Any
    clients: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def clients_for(self, tenant: str) -> tuple[Any, Any]:
        if tenant not in self.clients:
            self.clients[tenant] = boto_clients(self.url, self.parts.keystore.create_keys(tenant))
        return self.clients[tenant]

    @property
    def usage(self):
        return committed_usage(self.parts)


def boto_clients(url: str, keys: Any, read_timeout: float = 60) -> tuple[Any, Any]:
    session = boto3.Session(
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        region_name="us-east-1",
    )
    config = Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout)
    return (
        session.client("bedrock-agent", endpoint_url=url, config=config),
        session.client("bedrock-agent-runtime", endpoint_url=url, config=config),
    )


def agent_settings(**overrides: Any) -> AgentSettings:
    values: dict[str, Any] = {"functions": functions.FUNCTIONS, "step_timeout_s": 5.0, "max_iterations": 6}
    values.update(overrides)
    return AgentSettings(**values)


@contextlib.contextmanager
def running_gateway(
    home: Path,
    *,
    settings: AgentSettings | None = None,
    config: dict | None = None,
    providers: dict[str, Any] | None = None,
) -> Iterator[AgentGateway]:
    model = ScriptedProvider()
    router = ModelRouter(
        parse_config(config or models_config()), providers={"scripted": model, **(providers or {})}
    )
    gateway_settings = GatewaySettings(home=home)
    parts = assemble(gateway_settings, router=router)
    app = create_app(gateway_settings, gateway=parts)
    app.state.agents = build_agents(
        parts.keystore.state.db,
        parts.service,
        settings=settings or agent_settings(),
        knowledge=lambda: getattr(app.state, "knowledge", None),
    )
    keys = parts.keystore.create_keys("acme")
    with serve_app(app) as url:
        agent, runtime = boto_clients(url, keys)
        yield AgentGateway(url, app, parts, model, agent, runtime, keys)


def function_group(
    name: str = "weather", function: str = "get_forecast", executor: dict | None = None
) -> dict:
    return {
        "actionGroupName": name,
        "description": "Weather forecasts",
        "actionGroupExecutor": executor or {"lambda": functions.arn("weather")},
        "functionSchema": {
            "functions": [
                {
                    "name": function,
                    "description": "The forecast for a city",
                    "parameters": {"city": {"type": "string", "description": "City name", "required": True}},
                }
            ]
        },
    }


ORDERS_OPENAPI = {
    "openapi": "3.0.0",
    "info": {"title": "Orders", "version": "1.0"},
    "paths": {
        "/orders/{orderId}": {
            "get": {
                "operationId": "getOrder",
                "description": "Look an order up by its id",
                "parameters": [
                    {"name": "orderId", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "the order"}},
            }
        },
        "/orders": {
            "post": {
                "operationId": "createOrder",
                "description": "Place an order",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"item": {"type": "string"}, "quantity": {"type": "integer"}},
                                "required": ["item", "quantity"],
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "created"}},
            }
        },
    },
}


def api_group(name: str = "orders", executor: dict | None = None, schema: dict | None = None) -> dict:
    group: dict[str, Any] = {
        "actionGroupName": name,
        "description": "Orders",
        "apiSchema": {"payload": json.dumps(schema or ORDERS_OPENAPI)},
    }
    if executor is not False:
        group["actionGroupExecutor"] = executor or {"lambda": functions.arn("orders")}
    return group


def make_agent(
    gw: AgentGateway, *groups: dict, model: str = PLANNER, prepare: bool = True, **extra: Any
) -> str:
    """Create an agent with action groups (and prepare it); its id."""
    agent_id = gw.agent.create_agent(
        agentName=extra.pop("name", "travel"), foundationModel=model, instruction=INSTRUCTION, **extra
    )["agent"]["agentId"]
    for group in groups:
        gw.agent.create_agent_action_group(agentId=agent_id, agentVersion="DRAFT", **group)
    if prepare:
        gw.agent.prepare_agent(agentId=agent_id)
    return agent_id


def invoke(
    runtime: Any,
    agent_id: str,
    text: str | None = "hello",
    *,
    alias: str = "TSTALIASID",
    session: str = "s-1",
    **kw: Any,
) -> dict:
    """InvokeAgent, the stream collected: answer text, traces, return control, citations, headers."""
    args: dict[str, Any] = {"agentId": agent_id, "agentAliasId": alias, "sessionId": session, **kw}
    if text is not None:
        args["inputText"] = text
    response = runtime.invoke_agent(**args)
    return collect(response)


def collect(response: dict) -> dict:
    out: dict[str, Any] = {
        "text": "",
        "traces": [],
        "return_control": None,
        "citations": [],
        "response": response,
    }
    for event in response["completion"]:
        if "chunk" in event:
            out["text"] += event["chunk"]["bytes"].decode()
            out["citations"] += event["chunk"].get("attribution", {}).get("citations", [])
        elif "trace" in event:
            out["traces"].append(event["trace"])
        elif "returnControl" in event:
            out["return_control"] = event["returnControl"]
    return out


def trace_steps(traces: list[dict]) -> list[str]:
    """The traces as ``kind.member`` strings, in order (``orchestrationTrace.invocationInput`` …)."""
    steps = []
    for part in traces:
        ((kind, body),) = part["trace"].items()
        ((member, _),) = body.items() if isinstance(body, dict) and len(body) == 1 else (("-", None),)
        steps.append(f"{kind}.{member}" if kind.endswith("Trace") and member != "-" else kind)
    return steps
