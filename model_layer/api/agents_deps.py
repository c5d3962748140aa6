"""The agents subsystem as a FastAPI dependency (``AgentsDep``), and the input binding its routers share.

The subsystem (:func:`model_layer.agents.build_agents`) is built on first use from the replica's
parts: the shared state's database, the model service, the region and account for ARNs, and the
knowledge-base service the knowledge routers' lifespan puts on ``app.state.knowledge`` (looked up
at call time, so the order the lifespans start in does not matter). It holds no connections or
threads of its own, so it needs no shutdown.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from model_layer.agents import Agents, build_agents
from model_layer.errors import ServiceUnavailableException
from model_layer.wire.validate import bind_params, operation_model, parse_json_body, validate_input


def agents_of(state: Any) -> Agents:
    """The app's agents subsystem (built on first use); ``state`` is ``app.state``."""
    agents = getattr(state, "agents", None)
    if agents is None:
        gateway = getattr(state, "gateway", None)
        if gateway is None:  # a bare test app without shared state
            raise ServiceUnavailableException("Agents are not available on this gateway")
        settings = state.settings
        agents = build_agents(
            gateway.keystore.state.db,
            state.service,
            region=settings.region or "us-east-1",
            account_id=settings.account_id,
            knowledge=lambda: getattr(state, "knowledge", None),
        )
        state.agents = agents
    return agents


async def get_agents(request: Request) -> Agents:
    return agents_of(request.app.state)


AgentsDep = Annotated[Agents, Depends(get_agents)]


async def bound_input(request: Request, service: str, operation: str, **path: str) -> dict[str, Any]:
    """The operation's input (body, path labels, query strings, headers) checked against botocore's
    model; keys are member names."""
    raw = await request.body()
    body = parse_json_body(raw) if request.method in ("POST", "PUT") else {}
    params = bind_params(service, operation, path=path, query=request.query_params, headers=request.headers)
    shape = operation_model(service, operation).input_shape
    for name, value in list(params.items()):
        # bind_params converts integers; query-string booleans arrive as "true" / "false"
        if shape.members[name].type_name == "boolean" and value in ("true", "false"):
            params[name] = value == "true"
    validate_input(service, operation, body, params)
    return {**body, **params}


def success_status(service: str, operation: str) -> int:
    return operation_model(service, operation).http.get("responseCode", 200)
