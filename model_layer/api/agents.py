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

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from model_layer.api import collisions
from model_layer.api.agents_deps import AgentsDep, agents_of, bound_input, success_status
from model_layer.api.deps import TenantDep
from model_layer.errors import ResourceNotFoundException
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


# --- agents ------------------------------------------------------------------------------------


async def _tag_on_create(request: Request, tenant: Any, arn: str, tags: dict[str, str] | None) -> None:
    """CreateAgent / CreateAgentAlias ``tags`` go where ``/tags/{resourceArn}`` keeps tags."""
    knowledge = getattr(request.app.state, "knowledge", None)
    if tags and knowledge is not None:
        await knowledge.tag_resource(tenant, arn, tags)


@router.put("/agents/", openapi_extra=_doc("CreateAgent"))
async def create_agent(request: Request, tenant: TenantDep, agents: AgentsDep) -> Response:
    body = await bound_input(request, SERVICE, "CreateAgent")
    created = await agents.control.create_agent(tenant, body)
    await _tag_on_create(request, tenant, created["agent"]["agentArn"], body.get("tags"))
    return _answer("CreateAgent", created)


@router.post("/agents/", openapi_extra=_doc("ListAgents"))
async def list_agents(request: Request, tenant: TenantDep, agents: AgentsDep) -> Response:
    body = await bound_input(request, SERVICE, "ListAgents")
    return _answer("ListAgents", await agents.control.list_agents(tenant, body))


@router.get(AGENT)
async def get_agent(agentId: str, request: Request, tenant: TenantDep, agents: AgentsDep) -> Response:
    await bound_input(request, SERVICE, "GetAgent", agentId=agentId)
    return _answer("GetAgent", await agents.control.get_agent(tenant, agentId))


@router.put(AGENT, openapi_extra=_doc("UpdateAgent"))
async def update_agent(agentId: str, request: Request, tenant: TenantDep, agents: AgentsDep) -> Response:
    body = await bound_input(request, SERVICE, "UpdateAgent", agentId=agentId)
    return _answer("UpdateAgent", await agents.control.update_agent(tenant, agentId, body))


@router.delete(AGENT)
async def delete_agent(agentId: str, request: Request, tenant: TenantDep, agents: AgentsDep) -> Response:
    params = await bound_input(request, SERVICE, "DeleteAgent", agentId=agentId)
    skip = bool(params.get("skipResourceInUseCheck"))
    return _answer("DeleteAgent", await agents.control.delete_agent(tenant, agentId, skip))


@router.post(AGENT)
async def prepare_agent(agentId: str, request: Request, tenant: TenantDep, agents: AgentsDep) -> Response:
    await bound_input(request, SERVICE, "PrepareAgent", agentId=agentId)
    return _answer("PrepareAgent", await agents.control.prepare_agent(tenant, agentId))


# --- action groups -------------------------------------------------------------------------------


@router.put(GROUPS, openapi_extra=_doc("CreateAgentActionGroup"))
async def create_agent_action_group(
    agentId: str,
    agentVersion: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "CreateAgentActionGroup"
    body = await bound_input(request, SERVICE, op, agentId=agentId, agentVersion=agentVersion)
    return _answer(op, await agents.control.create_action_group(tenant, agentId, body))


@router.post(GROUPS, openapi_extra=_doc("ListAgentActionGroups"))
async def list_agent_action_groups(
    agentId: str,
    agentVersion: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "ListAgentActionGroups"
    body = await bound_input(request, SERVICE, op, agentId=agentId, agentVersion=agentVersion)
    return _answer(op, await agents.control.list_action_groups(tenant, agentId, agentVersion, body))


@router.get(GROUPS + "{actionGroupId}/")
async def get_agent_action_group(
    agentId: str,
    agentVersion: str,
    actionGroupId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "GetAgentActionGroup"
    ids = {"agentId": agentId, "agentVersion": agentVersion, "actionGroupId": actionGroupId}
    await bound_input(request, SERVICE, op, **ids)
    return _answer(op, await agents.control.get_action_group(tenant, agentId, agentVersion, actionGroupId))


@router.put(GROUPS + "{actionGroupId}/", openapi_extra=_doc("UpdateAgentActionGroup"))
async def update_agent_action_group(
    agentId: str,
    agentVersion: str,
    actionGroupId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "UpdateAgentActionGroup"
    ids = {"agentId": agentId, "agentVersion": agentVersion, "actionGroupId": actionGroupId}
    body = await bound_input(request, SERVICE, op, **ids)
    return _answer(op, await agents.control.update_action_group(tenant, agentId, actionGroupId, body))


@router.delete(GROUPS + "{actionGroupId}/")
async def delete_agent_action_group(
    agentId: str,
    agentVersion: str,
    actionGroupId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "DeleteAgentActionGroup"
    ids = {"agentId": agentId, "agentVersion": agentVersion, "actionGroupId": actionGroupId}
    await bound_input(request, SERVICE, op, **ids)
    await agents.control.delete_action_group(tenant, agentId, actionGroupId)
    return _answer(op, None)


# --- knowledge bases -----------------------------------------------------------------------------


@router.put(KBS, openapi_extra=_doc("AssociateAgentKnowledgeBase"))
async def associate_agent_knowledge_base(
    agentId: str,
    agentVersion: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "AssociateAgentKnowledgeBase"
    body = await bound_input(request, SERVICE, op, agentId=agentId, agentVersion=agentVersion)
    return _answer(op, await agents.control.associate_knowledge_base(tenant, agentId, body))


@router.post(KBS, openapi_extra=_doc("ListAgentKnowledgeBases"))
async def list_agent_knowledge_bases(
    agentId: str,
    agentVersion: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "ListAgentKnowledgeBases"
    body = await bound_input(request, SERVICE, op, agentId=agentId, agentVersion=agentVersion)
    return _answer(op, await agents.control.list_knowledge_bases(tenant, agentId, agentVersion, body))


@router.get(KBS + "{knowledgeBaseId}/")
async def get_agent_knowledge_base(
    agentId: str,
    agentVersion: str,
    knowledgeBaseId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "GetAgentKnowledgeBase"
    ids = {"agentId": agentId, "agentVersion": agentVersion, "knowledgeBaseId": knowledgeBaseId}
    await bound_input(request, SERVICE, op, **ids)
    return _answer(
        op, await agents.control.get_knowledge_base(tenant, agentId, agentVersion, knowledgeBaseId)
    )


@router.put(KBS + "{knowledgeBaseId}/", openapi_extra=_doc("UpdateAgentKnowledgeBase"))
async def update_agent_knowledge_base(
    agentId: str,
    agentVersion: str,
    knowledgeBaseId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "UpdateAgentKnowledgeBase"
    ids = {"agentId": agentId, "agentVersion": agentVersion, "knowledgeBaseId": knowledgeBaseId}
    body = await bound_input(request, SERVICE, op, **ids)
    return _answer(op, await agents.control.update_knowledge_base(tenant, agentId, knowledgeBaseId, body))


@router.delete(KBS + "{knowledgeBaseId}/")
async def disassociate_agent_knowledge_base(
    agentId: str,
    agentVersion: str,
    knowledgeBaseId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "DisassociateAgentKnowledgeBase"
    ids = {"agentId": agentId, "agentVersion": agentVersion, "knowledgeBaseId": knowledgeBaseId}
    await bound_input(request, SERVICE, op, **ids)
    await agents.control.disassociate_knowledge_base(tenant, agentId, knowledgeBaseId)
    return _answer(op, None)


# --- versions ----------------------------------------------------------------------------------


@router.post("/agents/{agentId}/agentversions/", openapi_extra=_doc("ListAgentVersions"))
async def list_agent_versions(
    agentId: str, request: Request, tenant: TenantDep, agents: AgentsDep
) -> Response:
    body = await bound_input(request, SERVICE, "ListAgentVersions", agentId=agentId)
    return _answer("ListAgentVersions", await agents.control.list_versions(tenant, agentId, body))


@router.get("/agents/{agentId}/agentversions/{agentVersion}/")
async def get_agent_version(
    agentId: str,
    agentVersion: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    await bound_input(request, SERVICE, "GetAgentVersion", agentId=agentId, agentVersion=agentVersion)
    return _answer("GetAgentVersion", await agents.control.get_version(tenant, agentId, agentVersion))


@router.delete("/agents/{agentId}/agentversions/{agentVersion}/")
async def delete_agent_version(
    agentId: str,
    agentVersion: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    op = "DeleteAgentVersion"
    params = await bound_input(request, SERVICE, op, agentId=agentId, agentVersion=agentVersion)
    skip = bool(params.get("skipResourceInUseCheck"))
    return _answer(op, await agents.control.delete_version(tenant, agentId, agentVersion, skip))


# --- aliases -----------------------------------------------------------------------------------


@router.put(ALIASES, openapi_extra=_doc("CreateAgentAlias"))
async def create_agent_alias(
    agentId: str, request: Request, tenant: TenantDep, agents: AgentsDep
) -> Response:
    body = await bound_input(request, SERVICE, "CreateAgentAlias", agentId=agentId)
    created = await agents.control.create_alias(tenant, agentId, body)
    await _tag_on_create(request, tenant, created["agentAlias"]["agentAliasArn"], body.get("tags"))
    return _answer("CreateAgentAlias", created)


@router.post(ALIASES, openapi_extra=_doc("ListAgentAliases"))
async def list_agent_aliases(
    agentId: str, request: Request, tenant: TenantDep, agents: AgentsDep
) -> Response:
    body = await bound_input(request, SERVICE, "ListAgentAliases", agentId=agentId)
    return _answer("ListAgentAliases", await agents.control.list_aliases(tenant, agentId, body))


@router.get(ALIASES + "{agentAliasId}/")
async def get_agent_alias(
    agentId: str,
    agentAliasId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    await bound_input(request, SERVICE, "GetAgentAlias", agentId=agentId, agentAliasId=agentAliasId)
    return _answer("GetAgentAlias", await agents.control.get_alias(tenant, agentId, agentAliasId))


@router.put(ALIASES + "{agentAliasId}/", openapi_extra=_doc("UpdateAgentAlias"))
async def update_agent_alias(
    agentId: str,
    agentAliasId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    body = await bound_input(request, SERVICE, "UpdateAgentAlias", agentId=agentId, agentAliasId=agentAliasId)
    return _answer("UpdateAgentAlias", await agents.control.update_alias(tenant, agentId, agentAliasId, body))


@router.delete(ALIASES + "{agentAliasId}/")
async def delete_agent_alias(
    agentId: str,
    agentAliasId: str,
    request: Request,
    tenant: TenantDep,
    agents: AgentsDep,
) -> Response:
    await bound_input(request, SERVICE, "DeleteAgentAlias", agentId=agentId, agentAliasId=agentAliasId)
    return _answer("DeleteAgentAlias", await agents.control.delete_alias(tenant, agentId, agentAliasId))
