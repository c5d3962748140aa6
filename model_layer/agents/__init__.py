"""Agents with Amazon Bedrock's semantics: definitions, action groups, orchestration, sessions, memory.

:func:`build_agents` puts the subsystem together over a gateway's shared state and model service:

- :mod:`~model_layer.agents.control`: the bedrock-agent operations (agents, action groups,
  knowledge-base associations, PrepareAgent, versions, aliases) over
  :mod:`~model_layer.agents.store`;
- :mod:`~model_layer.agents.runtime`: InvokeAgent / InvokeInlineAgent (the
  :mod:`~model_layer.agents.orchestration` loop, tools from :mod:`~model_layer.agents.catalog`,
  executors in :mod:`~model_layer.agents.executors`), sessions and memory
  (:mod:`~model_layer.agents.sessions`).

Model calls go through :class:`~model_layer.service.ModelService` (metered, admitted per tenant);
knowledge-base lookups through :mod:`model_layer.knowledge`; guardrails through the service's
guardrails. Settings: ``STRATA_AGENTS_*`` (:mod:`~model_layer.agents.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model_layer.agents.control import AgentsControl
from model_layer.agents.executors import FunctionRegistry
from model_layer.agents.knowledge import KnowledgeBases
from model_layer.agents.orchestration import Orchestrator
from model_layer.agents.runtime import AgentsRuntime
from model_layer.agents.sessions import SessionStore
from model_layer.agents.settings import AgentSettings
from model_layer.agents.store import AgentStore
from model_layer.agents.wire import Arns
from model_layer.service import ModelService
from model_layer.state.database import Database


@dataclass
class Agents:
    control: AgentsControl
    runtime: AgentsRuntime
    orchestrator: Orchestrator
    settings: AgentSettings


def build_agents(
    db: Database,
    service: ModelService,
    *,
    region: str = "us-east-1",
    account_id: str = "000000000000",
    knowledge: Any = None,
    settings: AgentSettings | None = None,
) -> Agents:
    """The agents subsystem over ``db`` (migrated) and ``service``; ``knowledge`` is the gateway's
    knowledge-base service (None: agents cannot use knowledge bases)."""
    settings = settings or AgentSettings()
    store, sessions = AgentStore(db), SessionStore(db)
    functions = FunctionRegistry(settings)
    kbs = KnowledgeBases(knowledge)
    orchestrator = Orchestrator(service, settings, functions, kbs)
    control = AgentsControl(store, service, kbs, settings, functions, Arns(region, account_id))
    runtime = AgentsRuntime(store, sessions, orchestrator, control, settings)
    return Agents(control, runtime, orchestrator, settings)


__all__ = ["AgentSettings", "Agents", "build_agents"]
