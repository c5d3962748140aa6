"""The bedrock-agent API for agents: agents, PrepareAgent, action groups, knowledge-base associations,
versions and aliases.

Handlers are named after the operation they serve; each binds and checks its input against
botocore's model (:func:`~model_layer.api.agents_deps.bound_input`) and calls
:class:`~model_layer.agents.control.AgentsControl`. URIs are AWS's, trailing slashes included
(the app does not redirect slashes, so PrepareAgent's ``POST /agents/{agentId}/`` and
InvokeInlineAgent's ``POST /agents/{sessionId}`` are different routes). Success statuses come
from the model too (202 for CreateAgent, 204 for DeleteAgentActionGroup…). Agents and aliases
are taggable through the shared ``/tags/{resourceArn}`` routes (:mod:`model_layer.api.collisions`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from model_layer.agents.control import AgentsControl
from model_layer.api import collisions
from model_layer.api.agents_deps import AgentsDep, agents_of, bound_input, success_status
from model_layer.api.deps import TenantDep
from model_layer.errors import ResourceNotFoundException
from model_layer.types import Tenant
from model_layer.wire.openapi import bedrock_body_schema, request_body

router = APIRouter(tags=["bedrock-agent"])
SERVICE = "bedrock-agent"
AGENT = "/agents/{agentId}/"
GROUPS = "/agents/{agentId}/agentversions/{agentVersion}/actiongroups/"
KBS = "/agents/{agentId}/agentversions/{agentVersion}/knowledgebases/"
ALIASES = "/agents/{agentId}/agentaliases/"


async def _owns(state: Any, tenant: Any, arn: str) -> bool:
    """Whether ``arn`` (``…:agent/<id>`` or ``…:agent-alias/<id>/<alias>``) is the tenant's, for
    ``/tags/{resourceArn}`` (:mod:`model_layer.api.collisions`)."""
    parts = arn.split(":", 5)[-1].split("/")
    control = agents_of(state).control
    try:
        if parts[0] == "agent" and len(parts) == 2:
            await control.get_agent(tenant, parts[1])
        elif parts[0] == "agent-alias" and len(parts) == 3:
            await control.get_alias(tenant, parts[1], parts[2])
        else:
            return False
    except ResourceNotFoundException:
        return False
    return True


collisions.register_taggable("agent", _owns)
collisions.register_taggable("agent-alias", _owns)


def _doc(operation: str) -> dict[str, Any]:
    return request_body(bedrock_body_schema(SERVICE, operation))


def _answer(operation: str, payload: dict[str, Any] | None) -> Response:
    status = success_status(SERVICE, operation)
    if payload is None or status == 204:
        return Response(status_code=status)
    return JSONResponse(payload, status_code=status)


@dataclass
class _Call:
    """One bedrock-agent call: the request, the caller's tenant and the agents' control plane."""

    request: Request
    tenant: Tenant
    control: AgentsControl

    async def serve(
        self, operation: str, run: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
    ) -> Response:
        """Bind and check the operation's input (the route's path labels included), ``run`` it and
        answer with the operation's success status (a 204 carries no body)."""
        params = await bound_input(self.request, SERVICE, operation, **self.request.path_params)
        return _answer(operation, await run(params))

    async def tag(self, arn: str, tags: dict[str, str] | None) -> None:
        """CreateAgent / CreateAgentAlias ``tags`` go where ``/tags/{resourceArn}`` keeps tags."""
        knowledge = getattr(self.request.app.state, "knowledge", None)
        if tags and knowledge is not None:
            await knowledge.tag_resource(self.tenant, arn, tags)


async def _call(request: Request, tenant: TenantDep, agents: AgentsDep) -> _Call:
    return _Call(request, tenant, agents.control)


CallDep = Annotated[_Call, Depends(_call)]


# --- agents ------------------------------------------------------------------------------------


@router.put("/agents/", openapi_extra=_doc("CreateAgent"))
async def create_agent(call: CallDep) -> Response:
    async def run(body: dict[str, Any]) -> dict[str, Any]:
        created = await call.control.create_agent(call.tenant, body)
        await call.tag(created["agent"]["agentArn"], body.get("tags"))
        return created

    return await call.serve("CreateAgent", run)


@router.post("/agents/", openapi_extra=_doc("ListAgents"))
async def list_agents(call: CallDep) -> Response:
    return await call.serve("ListAgents", lambda body: call.control.list_agents(call.tenant, body))


@router.get(AGENT)
async def get_agent(agentId: str, call: CallDep) -> Response:
    return await call.serve("GetAgent", lambda _: call.control.get_agent(call.tenant, agentId))


@router.put(AGENT, openapi_extra=_doc("UpdateAgent"))
async def update_agent(agentId: str, call: CallDep) -> Response:
    return await call.serve("UpdateAgent", lambda body: call.control.update_agent(call.tenant, agentId, body))


@router.delete(AGENT)
async def delete_agent(agentId: str, call: CallDep) -> Response:
    return await call.serve(
        "DeleteAgent",
        lambda params: call.control.delete_agent(
            call.tenant, agentId, bool(params.get("skipResourceInUseCheck"))
        ),
    )


@router.post(AGENT)
async def prepare_agent(agentId: str, call: CallDep) -> Response:
    return await call.serve("PrepareAgent", lambda _: call.control.prepare_agent(call.tenant, agentId))


# --- action groups -------------------------------------------------------------------------------


@router.put(GROUPS, openapi_extra=_doc("CreateAgentActionGroup"))
async def create_agent_action_group(agentId: str, agentVersion: str, call: CallDep) -> Response:
    return await call.serve(
        "CreateAgentActionGroup", lambda body: call.control.create_action_group(call.tenant, agentId, body)
    )


@router.post(GROUPS, openapi_extra=_doc("ListAgentActionGroups"))
async def list_agent_action_groups(agentId: str, agentVersion: str, call: CallDep) -> Response:
    return await call.serve(
        "ListAgentActionGroups",
        lambda body: call.control.list_action_groups(call.tenant, agentId, agentVersion, body),
    )


@router.get(GROUPS + "{actionGroupId}/")
async def get_agent_action_group(
    agentId: str, agentVersion: str, actionGroupId: str, call: CallDep
) -> Response:
    return await call.serve(
        "GetAgentActionGroup",
        lambda _: call.control.get_action_group(call.tenant, agentId, agentVersion, actionGroupId),
    )


@router.put(GROUPS + "{actionGroupId}/", openapi_extra=_doc("UpdateAgentActionGroup"))
async def update_agent_action_group(
    agentId: str, agentVersion: str, actionGroupId: str, call: CallDep
) -> Response:
    return await call.serve(
        "UpdateAgentActionGroup",
        lambda body: call.control.update_action_group(call.tenant, agentId, actionGroupId, body),
    )


@router.delete(GROUPS + "{actionGroupId}/")
async def delete_agent_action_group(
    agentId: str, agentVersion: str, actionGroupId: str, call: CallDep
) -> Response:
    return await call.serve(  # 204: no body
        "DeleteAgentActionGroup",
        lambda _: call.control.delete_action_group(call.tenant, agentId, actionGroupId),
    )


# --- knowledge bases -----------------------------------------------------------------------------


@router.put(KBS, openapi_extra=_doc("AssociateAgentKnowledgeBase"))
async def associate_agent_knowledge_base(agentId: str, agentVersion: str, call: CallDep) -> Response:
    return await call.serve(
        "AssociateAgentKnowledgeBase",
        lambda body: call.control.associate_knowledge_base(call.tenant, agentId, body),
    )


@router.post(KBS, openapi_extra=_doc("ListAgentKnowledgeBases"))
async def list_agent_knowledge_bases(agentId: str, agentVersion: str, call: CallDep) -> Response:
    return await call.serve(
        "ListAgentKnowledgeBases",
        lambda body: call.control.list_knowledge_bases(call.tenant, agentId, agentVersion, body),
    )


@router.get(KBS + "{knowledgeBaseId}/")
async def get_agent_knowledge_base(
    agentId: str, agentVersion: str, knowledgeBaseId: str, call: CallDep
) -> Response:
    return await call.serve(
        "GetAgentKnowledgeBase",
        lambda _: call.control.get_knowledge_base(call.tenant, agentId, agentVersion, knowledgeBaseId),
    )


@router.put(KBS + "{knowledgeBaseId}/", openapi_extra=_doc("UpdateAgentKnowledgeBase"))
async def update_agent_knowledge_base(
    agentId: str, agentVersion: str, knowledgeBaseId: str, call: CallDep
) -> Response:
    return await call.serve(
        "UpdateAgentKnowledgeBase",
        lambda body: call.control.update_knowledge_base(call.tenant, agentId, knowledgeBaseId, body),
    )


@router.delete(KBS + "{knowledgeBaseId}/")
async def disassociate_agent_knowledge_base(
    agentId: str, agentVersion: str, knowledgeBaseId: str, call: CallDep
) -> Response:
    return await call.serve(  # 204: no body
        "DisassociateAgentKnowledgeBase",
        lambda _: call.control.disassociate_knowledge_base(call.tenant, agentId, knowledgeBaseId),
    )


# --- versions ----------------------------------------------------------------------------------


@router.post("/agents/{agentId}/agentversions/", openapi_extra=_doc("ListAgentVersions"))
async def list_agent_versions(agentId: str, call: CallDep) -> Response:
    return await call.serve(
        "ListAgentVersions", lambda body: call.control.list_versions(call.tenant, agentId, body)
    )


@router.get("/agents/{agentId}/agentversions/{agentVersion}/")
async def get_agent_version(agentId: str, agentVersion: str, call: CallDep) -> Response:
    return await call.serve(
        "GetAgentVersion", lambda _: call.control.get_version(call.tenant, agentId, agentVersion)
    )


@router.delete("/agents/{agentId}/agentversions/{agentVersion}/")
async def delete_agent_version(agentId: str, agentVersion: str, call: CallDep) -> Response:
    return await call.serve(
        "DeleteAgentVersion",
        lambda params: call.control.delete_version(
            call.tenant, agentId, agentVersion, bool(params.get("skipResourceInUseCheck"))
        ),
    )


# --- aliases -----------------------------------------------------------------------------------


@router.put(ALIASES, openapi_extra=_doc("CreateAgentAlias"))
async def create_agent_alias(agentId: str, call: CallDep) -> Response:
    async def run(body: dict[str, Any]) -> dict[str, Any]:
        created = await call.control.create_alias(call.tenant, agentId, body)
        await call.tag(created["agentAlias"]["agentAliasArn"], body.get("tags"))
        return created

    return await call.serve("CreateAgentAlias", run)


@router.post(ALIASES, openapi_extra=_doc("ListAgentAliases"))
async def list_agent_aliases(agentId: str, call: CallDep) -> Response:
    return await call.serve(
        "ListAgentAliases", lambda body: call.control.list_aliases(call.tenant, agentId, body)
    )


@router.get(ALIASES + "{agentAliasId}/")
async def get_agent_alias(agentId: str, agentAliasId: str, call: CallDep) -> Response:
    return await call.serve(
        "GetAgentAlias", lambda _: call.control.get_alias(call.tenant, agentId, agentAliasId)
    )


@router.put(ALIASES + "{agentAliasId}/", openapi_extra=_doc("UpdateAgentAlias"))
async def update_agent_alias(agentId: str, agentAliasId: str, call: CallDep) -> Response:
    return await call.serve(
        "UpdateAgentAlias", lambda body: call.control.update_alias(call.tenant, agentId, agentAliasId, body)
    )


@router.delete(ALIASES + "{agentAliasId}/")
async def delete_agent_alias(agentId: str, agentAliasId: str, call: CallDep) -> Response:
    return await call.serve(
        "DeleteAgentAlias", lambda _: call.control.delete_alias(call.tenant, agentId, agentAliasId)
    )
