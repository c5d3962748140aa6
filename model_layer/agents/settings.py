"""Agent settings, read once from ``STRATA_AGENTS_*`` environment variables.

- ``STRATA_AGENTS_MAX_ITERATIONS`` (10): model calls one InvokeAgent may make before it stops and
  says so (Bedrock stops an agent that loops the same way);
- ``STRATA_AGENTS_STEP_TIMEOUT_S`` (30): how long one executor (Lambda callable, HTTP call) may run
  before its timeout becomes the observation;
- ``STRATA_AGENTS_MODEL_TIMEOUT_S`` (120): how long one model call of the loop may take;
- ``STRATA_AGENTS_FUNCTIONS``: a JSON object mapping a Lambda function name to a target, either
  ``"package.module:callable"`` or an ``http(s)://`` URL the Lambda event is POSTed to (see
  :mod:`model_layer.agents.executors`); it adds to, and overrides, the ``strata.agent_functions``
  entry points;
- ``STRATA_AGENTS_HTTP_ALLOWED_HOSTS``: hosts (``host`` or ``host:port``, comma separated) that
  OpenAPI action groups may call directly through their ``servers[0].url``. Empty by default: a
  tenant-supplied URL could otherwise reach anything the gateway can (its own admin API, a cloud
  metadata endpoint), so the operator opts hosts in;
- ``STRATA_AGENTS_HISTORY_TURNS`` (20): previous turns of a session sent to the model;
- ``STRATA_AGENTS_SESSION_LEASE_S`` (600): how long one invocation may hold its session before
  another may take it over (a replica that died mid-invocation does not lock a session for ever).
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRATA_AGENTS_", extra="ignore")

    max_iterations: int = Field(10, ge=1, le=100)
    step_timeout_s: float = Field(30.0, gt=0)
    model_timeout_s: float = Field(120.0, gt=0)
    functions: Annotated[dict[str, str], NoDecode] = {}
    http_allowed_hosts: Annotated[list[str], NoDecode] = []
    history_turns: int = Field(20, ge=0, le=200)
    session_lease_s: float = Field(600.0, gt=0)

    @field_validator("functions", mode="before")
    @classmethod
    def _functions_from_json(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("http_allowed_hosts", mode="before")
    @classmethod
    def _hosts_from_text(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip().lower() for h in value.split(",") if h.strip()]
        return value
