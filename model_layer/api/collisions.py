"""Routes that two AWS services share on strata's one base URL, and how a request is told apart.

botocore signs bedrock, bedrock-runtime, bedrock-agent and bedrock-agent-runtime requests all
with the service name ``bedrock`` and sends them to the same host, so neither the SigV4 scope nor
the Host header names the service: only the method, the raw path (trailing slashes are
significant: the app runs with ``redirect_slashes=False``) and, for tags, the ARN can.

- :func:`service_for` says which service's error statuses apply to a request: a request whose
  method and path match one of bedrock-agent-runtime's URI templates (from botocore's model,
  slash for slash) is the runtime's; so ``POST /knowledgebases/{id}/retrieve`` renders
  ConflictException as 409 and ModelNotReadyException as 424, while ``POST /agents/{agentId}/``
  (PrepareAgent) stays bedrock-agent's and ``POST /agents/{sessionId}`` (InvokeInlineAgent) is
  the runtime's.
- ``/tags/{resourceArn}`` (Tag/Untag/ListTagsForResource in both services) is one set of
  handlers (:mod:`model_layer.api.tags`) that dispatches on the ARN's resource type: a
  ``session/`` ARN is the runtime's, anything else bedrock-agent's. Each resource type registers
  who owns it with :func:`register_taggable` (knowledge bases here; agents, aliases and sessions
  by the agents subsystem), so a tenant can only tag what it owns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

import botocore.session

from model_layer.errors import Service

RUNTIME = "bedrock-agent-runtime"
# The operations both services define at the same method + URI: decided by the ARN, not the path.
SHARED_TEMPLATES = {"/tags/{resourceArn}"}

# resource type in an ARN (``knowledge-base``, ``agent``, ``session``…) -> async owns(tenant, arn)
OwnerCheck = Callable[[Any, Any, str], Awaitable[bool]]
_TAGGABLE: dict[str, OwnerCheck] = {}


def register_taggable(resource_type: str, owns: OwnerCheck) -> None:
    """Let ``/tags/{arn}`` act on ARNs of ``resource_type``; ``owns(app_state, tenant, arn)``
    says whether the tenant owns that resource (else: ResourceNotFoundException)."""
    _TAGGABLE[resource_type] = owns


def taggable(resource_type: str) -> OwnerCheck | None:
    return _TAGGABLE.get(resource_type)


def arn_resource_type(arn: str) -> str:
    """``arn:aws:bedrock:us-east-1:123456789012:knowledge-base/ABC`` -> ``knowledge-base``."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return ""
    return parts[5].split("/", 1)[0]


def service_for_tags(arn: str) -> Service:
    return RUNTIME if arn_resource_type(arn) == "session" else "bedrock-agent"


@functools.cache
def _runtime_routes() -> tuple[tuple[str, re.Pattern[str]], ...]:
    model = botocore.session.get_session().get_service_model(RUNTIME)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        template = http["requestUri"].split("?", 1)[0]
        if template in SHARED_TEMPLATES:
            continue
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        routes.append((http["method"], re.compile(pattern + r"\Z")))
    return tuple(routes)


def service_for(method: str, raw_path: str) -> Service | None:
    """The bedrock-agent-runtime for its own routes and session tags; None: decided by prefix."""
    if raw_path.startswith("/tags/"):
        from urllib.parse import unquote

        return service_for_tags(unquote(raw_path[len("/tags/") :]))
    for route_method, pattern in _runtime_routes():
        if route_method == method and pattern.match(raw_path):
            return RUNTIME
    return None
