"""Agent resources in bedrock-agent's wire shapes: Agent, AgentSummary, AgentActionGroup, AgentAlias,
AgentVersion, AgentKnowledgeBase and their summaries; ARNs; list pagination tokens.

Pure functions of the stored records (:mod:`model_layer.agents.records`), so the routers stay
thin and these are easy to test against botocore's output shapes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from model_layer.agents.definitions import public
from model_layer.agents.records import (
    DRAFT,
    TEST_ALIAS_ID,
    ActionGroupRecord,
    AgentRecord,
    AliasRecord,
    KnowledgeBaseLink,
)
from model_layer.agents.traces import iso
from model_layer.errors import ValidationException

DEFAULT_ROLE = "arn:aws:iam::{account}:role/strata-agent"  # Agent.agentResourceRoleArn is required
DEFAULT_PAGE = 100


class Arns:
    def __init__(self, region: str, account_id: str):
        self.region, self.account = region, account_id

    def agent(self, agent_id: str) -> str:
        return f"arn:aws:bedrock:{self.region}:{self.account}:agent/{agent_id}"

    def alias(self, agent_id: str, alias_id: str) -> str:
        return f"arn:aws:bedrock:{self.region}:{self.account}:agent-alias/{agent_id}/{alias_id}"

    def role(self) -> str:
        return DEFAULT_ROLE.format(account=self.account)


def agent(record: AgentRecord, arns: Arns) -> dict[str, Any]:
    body = record.body
    out: dict[str, Any] = {
        **body,
        "agentId": record.agent_id,
        "agentName": record.name,
        "agentArn": arns.agent(record.agent_id),
        "agentVersion": DRAFT,
        "agentStatus": record.status,
        "agentResourceRoleArn": body.get("agentResourceRoleArn") or arns.role(),
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
    }
    if record.prepared_at is not None:
        out["preparedAt"] = iso(record.prepared_at)
    return out


def agent_summary(record: AgentRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "agentId": record.agent_id,
        "agentName": record.name,
        "agentStatus": record.status,
        "updatedAt": iso(record.updated_at),
    }
    if record.latest_version:
        out["latestAgentVersion"] = str(record.latest_version)
    for key in ("description", "guardrailConfiguration"):
        if key in record.body:
            out[key] = record.body[key]
    return out


def action_group(
    agent_id: str, version: str, group_id: str, body: dict[str, Any], created: float, updated: float
) -> dict[str, Any]:
    out = {
        **public(body),
        "agentId": agent_id,
        "agentVersion": version,
        "actionGroupId": group_id,
        "createdAt": iso(created),
        "updatedAt": iso(updated),
    }
    # the request member is parentActionGroupSignature; the AgentActionGroup output calls it
    # parentActionSignature
    if "parentActionGroupSignature" in out:
        out["parentActionSignature"] = out.pop("parentActionGroupSignature")
    return out


def action_group_from_record(record: ActionGroupRecord) -> dict[str, Any]:
    return action_group(
        record.agent_id, DRAFT, record.action_group_id, record.body, record.created_at, record.updated_at
    )


def action_group_summary(group: dict[str, Any]) -> dict[str, Any]:
    keys = ("actionGroupId", "actionGroupName", "actionGroupState", "description", "updatedAt")
    return {k: group[k] for k in keys if k in group}


def knowledge_base(link: KnowledgeBaseLink, version: str = DRAFT) -> dict[str, Any]:
    return {
        "agentId": link.agent_id,
        "agentVersion": version,
        "knowledgeBaseId": link.knowledge_base_id,
        "description": link.description,
        "knowledgeBaseState": link.state,
        "createdAt": iso(link.created_at),
        "updatedAt": iso(link.updated_at),
    }


def knowledge_base_summary(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("knowledgeBaseId", "description", "knowledgeBaseState", "updatedAt")
    return {k: item[k] for k in keys if k in item}


def alias(record: AliasRecord, arns: Arns) -> dict[str, Any]:
    body = record.body
    out: dict[str, Any] = {
        "agentId": record.agent_id,
        "agentAliasId": record.alias_id,
        "agentAliasName": record.name,
        "agentAliasArn": arns.alias(record.agent_id, record.alias_id),
        "routingConfiguration": body.get("routingConfiguration", []),
        "agentAliasHistoryEvents": body.get("agentAliasHistoryEvents", []),
        "agentAliasStatus": "PREPARED",
        "aliasInvocationState": body.get("aliasInvocationState", "ACCEPT_INVOCATIONS"),
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
    }
    for key in ("description", "clientToken"):
        if key in body:
            out[key] = body[key]
    return out


def test_alias(record: AgentRecord, arns: Arns) -> dict[str, Any]:
    """The built-in ``TSTALIASID`` alias: it runs the DRAFT as last prepared."""
    when = record.prepared_at or record.created_at
    return {
        "agentId": record.agent_id,
        "agentAliasId": TEST_ALIAS_ID,
        "agentAliasName": "AgentTestAlias",
        "agentAliasArn": arns.alias(record.agent_id, TEST_ALIAS_ID),
        "description": "Test Alias for Agent",
        "routingConfiguration": [{"agentVersion": DRAFT}],
        "agentAliasHistoryEvents": [],
        "agentAliasStatus": "PREPARED",
        "aliasInvocationState": "ACCEPT_INVOCATIONS",
        "createdAt": iso(record.created_at),
        "updatedAt": iso(when),
    }


def alias_summary(item: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "agentAliasId",
        "agentAliasName",
        "description",
        "routingConfiguration",
        "agentAliasStatus",
        "aliasInvocationState",
        "createdAt",
        "updatedAt",
    )
    return {k: item[k] for k in keys if k in item}


def version(
    agent_id: str, number: int, snapshot: dict[str, Any], created: float, arns: Arns
) -> dict[str, Any]:
    body = snapshot["agent"]
    out: dict[str, Any] = {
        **{k: v for k, v in body.items() if k != "agentName"},
        "agentId": agent_id,
        "agentName": body.get("agentName", ""),
        "agentArn": arns.agent(agent_id),
        "version": str(number),
        "agentStatus": "PREPARED",
        "agentResourceRoleArn": body.get("agentResourceRoleArn") or arns.role(),
        "createdAt": iso(created),
        "updatedAt": iso(created),
    }
    return out


def version_summary(name: str, number: str, status: str, created: float, updated: float, body: dict) -> dict:
    out: dict[str, Any] = {
        "agentName": name,
        "agentStatus": status,
        "agentVersion": number,
        "createdAt": iso(created),
        "updatedAt": iso(updated),
    }
    for key in ("description", "guardrailConfiguration"):
        if key in body:
            out[key] = body[key]
    return out


# --- pagination ----------------------------------------------------------------------------------


def page_start(next_token: str | None) -> int:
    """The offset a ``nextToken`` this gateway handed out stands for."""
    if next_token is None:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(next_token.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationException("nextToken is not a token this API returned") from None
    if offset < 0:
        raise ValidationException("nextToken is not a token this API returned")
    return offset


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def paginate(items: list[Any], body: dict[str, Any]) -> tuple[list[Any], str | None]:
    start = page_start(body.get("nextToken"))
    size = body.get("maxResults") or DEFAULT_PAGE
    chunk = items[start : start + size]
    more = start + size < len(items)
    return chunk, page_token(start + size) if more else None


def page(
    key: str, items: list[Any], body: dict[str, Any], summary: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    """A List* answer: the page of ``items`` ``body`` asks for under ``key`` (each through
    ``summary`` where given), and ``nextToken`` when more follow."""
    chunk, token = paginate(items, body)
    out: dict[str, Any] = {key: [summary(i) for i in chunk] if summary else chunk}
    if token:
        out["nextToken"] = token
    return out
