"""The bedrock-agent control plane for agents: definitions, action groups, knowledge bases, prepare,
versions and aliases — operation by operation, named as AWS names them.

Requests arrive already checked against botocore's model (the router does that); this adds
Bedrock's own rules (:mod:`~model_layer.agents.definitions`) and the state transitions:

- an agent is created ``NOT_PREPARED``; any change to its DRAFT (agent, action groups, knowledge
  bases) makes it ``NOT_PREPARED`` again; PrepareAgent checks the DRAFT can run (model served and
  allowed, instruction set, functions registered, knowledge bases present) and snapshots it as
  ``PREPARED`` — the built-in alias ``TSTALIASID`` runs that snapshot;
- CreateAgentAlias without a routing configuration makes a new numbered version from the prepared
  snapshot (so an unprepared agent cannot get one: ``ConflictException``); with one, it routes to
  that existing version.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from model_layer.agents import definitions, wire
from model_layer.agents.executors import FunctionRegistry
from model_layer.agents.knowledge import KnowledgeBases
from model_layer.agents.records import DRAFT, TEST_ALIAS_ID, AgentRecord
from model_layer.agents.s3 import fetch_schema
from model_layer.agents.settings import AgentSettings
from model_layer.agents.store import AgentStore, not_found
from model_layer.errors import ConflictException, ResourceNotFoundException, ValidationException
from model_layer.service import ModelService
from model_layer.types import Tenant

NOT_PREPARED = (
    "Couldn't perform {op}: agent {agent_id} is in status NOT_PREPARED. Call PrepareAgent, then retry."
)


def _run(fn: Any, *args: Any) -> Any:
    return asyncio.to_thread(fn, *args)


class AgentsControl:
    def __init__(
        self,
        store: AgentStore,
        service: ModelService,
        knowledge: KnowledgeBases,
        settings: AgentSettings,
        functions: FunctionRegistry,
        arns: wire.Arns,
        fetch_s3: Any = fetch_schema,
    ):
        self.store, self.service, self.knowledge = store, service, knowledge
        self.settings, self.functions, self.arns, self.fetch_s3 = settings, functions, arns, fetch_s3

    # --- agents ----------------------------------------------------------------------------------

    async def create_agent(self, tenant: Tenant, request: dict[str, Any]) -> dict[str, Any]:
        body = await self._agent_body(tenant, request)
        record = await _run(
            self.store.create_agent, tenant.tenant_id, request["agentName"], body, request.get("clientToken")
        )
        return {"agent": wire.agent(record, self.arns)}

    async def _agent_body(self, tenant: Tenant, request: dict[str, Any]) -> dict[str, Any]:
        body = definitions.agent_body(request)
        if "guardrailConfiguration" in body:
            await self.check_guardrail(tenant, body["guardrailConfiguration"])
        return body

    async def check_guardrail(self, tenant: Tenant, config: dict[str, Any]) -> None:
        guardrails = getattr(self.service, "guardrails", None)
        if guardrails is None:
            raise ValidationException("guardrailConfiguration: this gateway has no guardrails")
        identifier, version = config.get("guardrailIdentifier"), config.get("guardrailVersion")
        if not identifier:
            raise ValidationException("guardrailConfiguration.guardrailIdentifier is required")
        await guardrails.compiled(tenant.tenant_id, identifier, version or DRAFT)  # 404 if it is not there

    async def get_agent(self, tenant: Tenant, agent_id: str) -> dict[str, Any]:
        record = await _run(self.store.get_agent, tenant.tenant_id, agent_id)
        return {"agent": wire.agent(record, self.arns)}

    async def list_agents(self, tenant: Tenant, request: dict[str, Any]) -> dict[str, Any]:
        start = wire.page_start(request.get("nextToken"))
        size = request.get("maxResults") or wire.DEFAULT_PAGE
        records = await _run(self.store.list_agents, tenant.tenant_id, start, size + 1)
        out: dict[str, Any] = {"agentSummaries": [wire.agent_summary(r) for r in records[:size]]}
        if len(records) > size:
            out["nextToken"] = wire.page_token(start + size)
        return out

    async def update_agent(self, tenant: Tenant, agent_id: str, request: dict[str, Any]) -> dict[str, Any]:
        body = await self._agent_body(tenant, request)
        record = await _run(self.store.update_agent, tenant.tenant_id, agent_id, request["agentName"], body)
        return {"agent": wire.agent(record, self.arns)}

    async def delete_agent(self, tenant: Tenant, agent_id: str, skip_in_use_check: bool) -> dict[str, Any]:
        aliases = await _run(self.store.list_aliases, tenant.tenant_id, agent_id)
        if aliases and not skip_in_use_check:
            names = ", ".join(a.alias_id for a in aliases)
            raise ConflictException(
                f"Agent {agent_id} is in use by aliases {names}: delete them first, or set "
                "skipResourceInUseCheck"
            )
        await _run(self.store.delete_agent, tenant.tenant_id, agent_id)
        return {"agentId": agent_id, "agentStatus": "DELETING"}

    async def prepare_agent(self, tenant: Tenant, agent_id: str) -> dict[str, Any]:
        agent, groups, links = await _run(self.store.snapshot_draft, tenant.tenant_id, agent_id)
        await self.check_runnable(
            tenant, agent.body, [g.body for g in groups], [link.knowledge_base_id for link in links]
        )
        snapshot = {
            "agent": {"agentName": agent.name, **agent.body},
            "actionGroups": [{"actionGroupId": g.action_group_id, **g.body} for g in groups],
            "knowledgeBases": [
                {
                    "knowledgeBaseId": k.knowledge_base_id,
                    "description": k.description,
                    "knowledgeBaseState": k.state,
                }
                for k in links
            ],
        }
        now = time.time()
        record = await _run(self.store.set_prepared, tenant.tenant_id, agent_id, snapshot, now)
        return {
            "agentId": record.agent_id,
            "agentStatus": record.status,
            "agentVersion": DRAFT,
            "preparedAt": wire.iso(now),
        }

    async def check_runnable(
        self, tenant: Tenant, agent: dict[str, Any], groups: list[dict[str, Any]], kb_ids: list[str]
    ) -> None:
        """What PrepareAgent (and InvokeInlineAgent) require before anything runs."""
        if not agent.get("instruction"):
            raise ValidationException("instruction: an agent needs an instruction before it can be prepared")
        model_id = agent.get("foundationModel")
        if not model_id:
            raise ValidationException(
                "foundationModel: an agent needs a foundation model before it can be prepared"
            )
        try:
            model = self.service.get_model(model_id, tenant)
        except ResourceNotFoundException:
            raise ValidationException(
                f"foundationModel: {model_id} is not a model this gateway serves"
            ) from None
        if model.kind != "chat":
            raise ValidationException(f"foundationModel: {model_id} is not a chat model")
        for group in groups:
            arn = (group.get("actionGroupExecutor") or {}).get("lambda")
            if arn is not None:
                definitions.check_lambda(arn, self.functions)
        for kb_id in kb_ids:
            await self.knowledge.check_exists(tenant, kb_id)
        if agent.get("guardrailConfiguration"):
            await self.check_guardrail(tenant, agent["guardrailConfiguration"])

    # --- action groups ---------------------------------------------------------------------------

    async def _group_body(self, request: dict[str, Any]) -> dict[str, Any]:
        return await _run(
            definitions.action_group_body, request, self.settings, self.functions, self.fetch_s3
        )

    async def create_action_group(
        self, tenant: Tenant, agent_id: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        body = await self._group_body(request)
        record = await _run(
            self.store.create_action_group, tenant.tenant_id, agent_id, request["actionGroupName"], body
        )
        return {"agentActionGroup": wire.action_group_from_record(record)}

    async def _groups(self, tenant: Tenant, agent_id: str, version: str) -> list[dict[str, Any]]:
        if version == DRAFT:
            records = await _run(self.store.list_action_groups, tenant.tenant_id, agent_id)
            return [wire.action_group_from_record(r) for r in records]
        snapshot, created = await self._version_snapshot(tenant, agent_id, version)
        return [
            wire.action_group(agent_id, version, g["actionGroupId"], g, created, created)
            for g in snapshot["actionGroups"]
        ]

    async def _version_snapshot(
        self, tenant: Tenant, agent_id: str, version: str
    ) -> tuple[dict[str, Any], float]:
        record = await _run(self.store.get_version, tenant.tenant_id, agent_id, int(version))
        return record.snapshot, record.created_at

    async def get_action_group(
        self, tenant: Tenant, agent_id: str, version: str, group_id: str
    ) -> dict[str, Any]:
        for group in await self._groups(tenant, agent_id, version):
            if group["actionGroupId"] == group_id:
                return {"agentActionGroup": group}
        raise not_found("Action group", group_id)

    async def list_action_groups(
        self, tenant: Tenant, agent_id: str, version: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        groups = await self._groups(tenant, agent_id, version)
        return wire.page("actionGroupSummaries", groups, request, wire.action_group_summary)

    async def update_action_group(
        self, tenant: Tenant, agent_id: str, group_id: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        body = await self._group_body(request)
        record = await _run(
            self.store.update_action_group,
            tenant.tenant_id,
            agent_id,
            group_id,
            request["actionGroupName"],
            body,
        )
        return {"agentActionGroup": wire.action_group_from_record(record)}

    async def delete_action_group(self, tenant: Tenant, agent_id: str, group_id: str) -> None:
        await _run(self.store.delete_action_group, tenant.tenant_id, agent_id, group_id)

    # --- knowledge bases -------------------------------------------------------------------------

    async def associate_knowledge_base(
        self, tenant: Tenant, agent_id: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        await _run(self.store.get_agent, tenant.tenant_id, agent_id)
        kb_id = request["knowledgeBaseId"]
        await self.knowledge.check_exists(tenant, kb_id)
        link = await _run(
            self.store.associate_knowledge_base,
            tenant.tenant_id,
            agent_id,
            kb_id,
            request["description"],
            request.get("knowledgeBaseState", "ENABLED"),
        )
        return {"agentKnowledgeBase": wire.knowledge_base(link)}

    async def _kb_items(self, tenant: Tenant, agent_id: str, version: str) -> list[dict[str, Any]]:
        if version == DRAFT:
            links = await _run(self.store.list_knowledge_bases, tenant.tenant_id, agent_id)
            return [wire.knowledge_base(link) for link in links]
        snapshot, created = await self._version_snapshot(tenant, agent_id, version)
        stamp = wire.iso(created)
        return [
            {**kb, "agentId": agent_id, "agentVersion": version, "createdAt": stamp, "updatedAt": stamp}
            for kb in snapshot["knowledgeBases"]
        ]

    async def get_knowledge_base(
        self, tenant: Tenant, agent_id: str, version: str, kb_id: str
    ) -> dict[str, Any]:
        for item in await self._kb_items(tenant, agent_id, version):
            if item["knowledgeBaseId"] == kb_id:
                return {"agentKnowledgeBase": item}
        raise not_found("Knowledge base", kb_id)

    async def list_knowledge_bases(
        self, tenant: Tenant, agent_id: str, version: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        items = await self._kb_items(tenant, agent_id, version)
        return wire.page("agentKnowledgeBaseSummaries", items, request, wire.knowledge_base_summary)

    async def update_knowledge_base(
        self, tenant: Tenant, agent_id: str, kb_id: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        link = await _run(
            self.store.update_knowledge_base,
            tenant.tenant_id,
            agent_id,
            kb_id,
            request.get("description"),
            request.get("knowledgeBaseState"),
        )
        return {"agentKnowledgeBase": wire.knowledge_base(link)}

    async def disassociate_knowledge_base(self, tenant: Tenant, agent_id: str, kb_id: str) -> None:
        await _run(self.store.disassociate_knowledge_base, tenant.tenant_id, agent_id, kb_id)

    # --- versions and aliases --------------------------------------------------------------------

    async def list_versions(self, tenant: Tenant, agent_id: str, request: dict[str, Any]) -> dict[str, Any]:
        agent = await _run(self.store.get_agent, tenant.tenant_id, agent_id)
        versions = await _run(self.store.list_versions, tenant.tenant_id, agent_id)
        items = [
            wire.version_summary(
                agent.name, DRAFT, agent.status, agent.created_at, agent.updated_at, agent.body
            )
        ]
        for v in versions:
            name = v.snapshot["agent"].get("agentName", agent.name)
            items.append(
                wire.version_summary(
                    name, str(v.version), "PREPARED", v.created_at, v.created_at, v.snapshot["agent"]
                )
            )
        return wire.page("agentVersionSummaries", items, request)

    async def get_version(self, tenant: Tenant, agent_id: str, version: str) -> dict[str, Any]:
        if version == DRAFT:
            raise ValidationException("agentVersion: use GetAgent for the DRAFT version")
        record = await _run(self.store.get_version, tenant.tenant_id, agent_id, int(version))
        return {
            "agentVersion": wire.version(
                agent_id, record.version, record.snapshot, record.created_at, self.arns
            )
        }

    async def delete_version(
        self, tenant: Tenant, agent_id: str, version: str, skip_check: bool
    ) -> dict[str, Any]:
        if version == DRAFT:
            raise ValidationException("agentVersion: the DRAFT version cannot be deleted (delete the agent)")
        if skip_check:
            await _run(self._drop_routes, tenant, agent_id, version)
        await _run(self.store.delete_version, tenant.tenant_id, agent_id, int(version))
        return {"agentId": agent_id, "agentVersion": version, "agentStatus": "DELETING"}

    def _drop_routes(self, tenant: Tenant, agent_id: str, version: str) -> None:
        for alias in self.store.list_aliases(tenant.tenant_id, agent_id):
            routes = alias.body.get("routingConfiguration", [])
            if any(r.get("agentVersion") == version for r in routes):
                self.store.update_alias(
                    tenant.tenant_id,
                    agent_id,
                    alias.alias_id,
                    alias.name,
                    {**alias.body, "routingConfiguration": []},
                )

    async def _routing(
        self, tenant: Tenant, agent: AgentRecord, request: dict[str, Any]
    ) -> list[dict[str, Any]]:
        routing = request.get("routingConfiguration") or []
        if not routing:
            if agent.prepared is None or agent.status != "PREPARED":
                raise ConflictException(NOT_PREPARED.format(op="CreateAgentAlias", agent_id=agent.agent_id))
            number = await _run(self.store.create_version, tenant.tenant_id, agent.agent_id, agent.prepared)
            return [{"agentVersion": str(number)}]
        version = routing[0].get("agentVersion")
        if routing[0].get("provisionedThroughput"):
            raise ValidationException(
                "routingConfiguration.1.member.provisionedThroughput is not supported by this gateway"
            )
        if version is None or version == DRAFT:
            raise ValidationException(
                "routingConfiguration.1.member.agentVersion: an alias routes to a numbered version "
                f"(DRAFT is served by {TEST_ALIAS_ID})"
            )
        await _run(self.store.get_version, tenant.tenant_id, agent.agent_id, int(version))
        return [{"agentVersion": version}]

    async def create_alias(self, tenant: Tenant, agent_id: str, request: dict[str, Any]) -> dict[str, Any]:
        agent = await _run(self.store.get_agent, tenant.tenant_id, agent_id)
        routing = await self._routing(tenant, agent, request)
        now = wire.iso(time.time())
        body = {
            "routingConfiguration": routing,
            "agentAliasHistoryEvents": [{"routingConfiguration": routing, "startDate": now}],
            **{k: request[k] for k in ("description", "tags", "clientToken") if k in request},
        }
        record = await _run(
            self.store.create_alias, tenant.tenant_id, agent_id, request["agentAliasName"], body
        )
        return {"agentAlias": wire.alias(record, self.arns)}

    async def get_alias(self, tenant: Tenant, agent_id: str, alias_id: str) -> dict[str, Any]:
        if alias_id == TEST_ALIAS_ID:
            agent = await _run(self.store.get_agent, tenant.tenant_id, agent_id)
            return {"agentAlias": wire.test_alias(agent, self.arns)}
        record = await _run(self.store.get_alias, tenant.tenant_id, agent_id, alias_id)
        return {"agentAlias": wire.alias(record, self.arns)}

    async def list_aliases(self, tenant: Tenant, agent_id: str, request: dict[str, Any]) -> dict[str, Any]:
        agent = await _run(self.store.get_agent, tenant.tenant_id, agent_id)
        records = await _run(self.store.list_aliases, tenant.tenant_id, agent_id)
        items = [wire.test_alias(agent, self.arns), *(wire.alias(r, self.arns) for r in records)]
        return wire.page("agentAliasSummaries", items, request, wire.alias_summary)

    async def update_alias(
        self, tenant: Tenant, agent_id: str, alias_id: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        _not_test_alias(alias_id)
        agent = await _run(self.store.get_agent, tenant.tenant_id, agent_id)
        current = await _run(self.store.get_alias, tenant.tenant_id, agent_id, alias_id)
        routing = await self._routing(tenant, agent, request)
        now = wire.iso(time.time())
        history = list(current.body.get("agentAliasHistoryEvents", []))
        if history:
            history[-1] = {**history[-1], "endDate": now}
        history = [*history, {"routingConfiguration": routing, "startDate": now}][-10:]
        body = {**current.body, "routingConfiguration": routing, "agentAliasHistoryEvents": history}
        if "description" in request:
            body["description"] = request["description"]
        if "aliasInvocationState" in request:
            body["aliasInvocationState"] = request["aliasInvocationState"]
        record = await _run(
            self.store.update_alias, tenant.tenant_id, agent_id, alias_id, request["agentAliasName"], body
        )
        return {"agentAlias": wire.alias(record, self.arns)}

    async def delete_alias(self, tenant: Tenant, agent_id: str, alias_id: str) -> dict[str, Any]:
        _not_test_alias(alias_id)
        await _run(self.store.delete_alias, tenant.tenant_id, agent_id, alias_id)
        return {"agentId": agent_id, "agentAliasId": alias_id, "agentAliasStatus": "DELETING"}


def _not_test_alias(alias_id: str) -> None:
    """The built-in test alias can be read, never changed (AWS words it as a pattern violation)."""
    if alias_id == TEST_ALIAS_ID:
        raise ValidationException(
            f"1 validation error detected: Value '{alias_id}' at 'agentAliasId' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: (?!\\bTSTALIASID\\b)[0-9a-zA-Z]+"
        )
