"""Checks on agent and action-group definitions beyond botocore's model, and their stored form.

botocore's model (checked first, by :func:`model_layer.wire.validate.validate_input`) covers
types, lengths, enums and patterns. What it cannot say is checked here, each failure one
``ValidationException`` naming the field: an action group has exactly one of ``apiSchema`` /
``functionSchema`` and an executor it can run; function names are unique; the OpenAPI payload is a
valid schema (:mod:`model_layer.agents.openapi`); a Lambda ARN names a registered function; an
HTTP server is one the operator allows; AMAZON.UserInput carries nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from model_layer.agents import openapi
from model_layer.agents.executors import FunctionRegistry, host_allowed, lambda_name
from model_layer.agents.settings import AgentSettings
from model_layer.errors import ValidationException

USER_INPUT = "AMAZON.UserInput"
# Fields of an action group as stored and returned (request members, minus the token)
GROUP_FIELDS = (
    "actionGroupName",
    "description",
    "parentActionGroupSignature",
    "parentActionGroupSignatureParams",
    "actionGroupExecutor",
    "apiSchema",
    "functionSchema",
    "actionGroupState",
)
AGENT_FIELDS = (
    "agentName",
    "instruction",
    "foundationModel",
    "description",
    "orchestrationType",
    "idleSessionTTLInSeconds",
    "agentResourceRoleArn",
    "customerEncryptionKeyArn",
    "promptOverrideConfiguration",
    "guardrailConfiguration",
    "memoryConfiguration",
    "agentCollaboration",
)
DEFAULT_IDLE_TTL_S = 600  # Bedrock's default idle session timeout
MAX_FUNCTIONS = 11  # Bedrock: an action group holds up to 11 functions or API operations


def agent_body(request: dict[str, Any]) -> dict[str, Any]:
    """The stored DRAFT of CreateAgent / UpdateAgent (unsupported options refused)."""
    if request.get("orchestrationType") == "CUSTOM_ORCHESTRATION" or request.get("customOrchestration"):
        raise ValidationException("orchestrationType CUSTOM_ORCHESTRATION is not supported by this gateway")
    if request.get("agentCollaboration") not in (None, "DISABLED"):
        raise ValidationException(
            "agentCollaboration: multi-agent collaboration is not supported by this gateway"
        )
    memory = request.get("memoryConfiguration")
    if memory is not None and memory.get("enabledMemoryTypes") != ["SESSION_SUMMARY"]:
        raise ValidationException("memoryConfiguration.enabledMemoryTypes must be [SESSION_SUMMARY]")
    body = {k: request[k] for k in AGENT_FIELDS if request.get(k) is not None}
    body.setdefault("idleSessionTTLInSeconds", DEFAULT_IDLE_TTL_S)
    body.setdefault("orchestrationType", "DEFAULT")
    return body


def action_group_body(
    request: dict[str, Any],
    settings: AgentSettings,
    functions: FunctionRegistry,
    fetch_s3: Callable[[str, str], str],
) -> dict[str, Any]:
    """The stored action group: checked, with its OpenAPI document parsed (``_openapi``)."""
    body = {k: request[k] for k in GROUP_FIELDS if request.get(k) is not None}
    body.setdefault("actionGroupState", "ENABLED")
    signature = body.get("parentActionGroupSignature")
    if signature is not None:
        _check_signature(body, signature)
        return body
    has_api, has_functions = "apiSchema" in body, "functionSchema" in body
    if has_api == has_functions:
        raise ValidationException(
            "Exactly one of apiSchema and functionSchema must be set for an action group"
        )
    if has_functions:
        _check_functions(body["functionSchema"])
    else:
        body["_openapi"] = _openapi_document(body["apiSchema"], fetch_s3)
    _check_executor(body, settings, functions)
    return body


def _check_signature(body: dict[str, Any], signature: str) -> None:
    if signature != USER_INPUT:
        raise ValidationException(
            f"parentActionGroupSignature {signature} is not supported by this gateway "
            f"(supported: {USER_INPUT})"
        )
    for key in ("actionGroupExecutor", "apiSchema", "functionSchema"):
        if key in body:
            raise ValidationException(
                f"{key} must not be set when parentActionGroupSignature is {USER_INPUT}"
            )


def _check_functions(schema: dict[str, Any]) -> None:
    functions = schema.get("functions") or []
    if not functions:
        raise ValidationException("functionSchema.functions must define at least one function")
    if len(functions) > MAX_FUNCTIONS:
        raise ValidationException(
            f"functionSchema.functions: an action group holds at most {MAX_FUNCTIONS} functions"
        )
    seen: set[str] = set()
    for i, function in enumerate(functions, start=1):
        name = function["name"]
        if name in seen:
            raise ValidationException(
                f"functionSchema.functions.{i}.member.name: duplicate function name '{name}'"
            )
        seen.add(name)
        if function.get("requireConfirmation") == "ENABLED":
            raise ValidationException(
                f"functionSchema.functions.{i}.member.requireConfirmation: user confirmation is not "
                "supported by this gateway (use customControl RETURN_CONTROL to confirm in the client)"
            )


def _openapi_document(schema: dict[str, Any], fetch_s3: Callable[[str, str], str]) -> dict[str, Any]:
    if ("payload" in schema) == ("s3" in schema):
        raise ValidationException("apiSchema must have exactly one of payload and s3")
    if "s3" in schema:
        s3 = schema["s3"]
        if not s3.get("s3BucketName") or not s3.get("s3ObjectKey"):
            raise ValidationException("apiSchema.s3 needs s3BucketName and s3ObjectKey")
        payload = fetch_s3(s3["s3BucketName"], s3["s3ObjectKey"])
    else:
        payload = schema["payload"]
    document = openapi.parse_payload(payload)
    operations = openapi.operations(document)
    if len(operations) > MAX_FUNCTIONS:
        raise ValidationException(
            f"apiSchema.payload: an action group holds at most {MAX_FUNCTIONS} API operations"
        )
    return document


def _check_executor(body: dict[str, Any], settings: AgentSettings, functions: FunctionRegistry) -> None:
    executor = body.get("actionGroupExecutor")
    if executor is None:
        url = openapi.server_url(body["_openapi"]) if "_openapi" in body else None
        if url is None:
            raise ValidationException(
                "actionGroupExecutor is required: a Lambda ARN, customControl RETURN_CONTROL, or (for an "
                "apiSchema) servers[0].url to call the API over HTTP"
            )
        if not host_allowed(url, settings.http_allowed_hosts):
            raise ValidationException(
                f"apiSchema.payload: servers[0].url {url} is not an allowed HTTP action-group host "
                "(the gateway operator lists them in STRATA_AGENTS_HTTP_ALLOWED_HOSTS)"
            )
        return
    if ("lambda" in executor) == ("customControl" in executor):
        raise ValidationException("actionGroupExecutor must have exactly one of lambda and customControl")
    arn = executor.get("lambda")
    if arn is not None:
        check_lambda(arn, functions)


def check_lambda(arn: str, functions: FunctionRegistry) -> None:
    if lambda_name(arn) is None:
        raise ValidationException(f"actionGroupExecutor.lambda: {arn} is not a Lambda function ARN")
    if functions.target(arn) is None:
        name = lambda_name(arn)[0]  # type: ignore[index]
        raise ValidationException(
            f"actionGroupExecutor.lambda: no function {name} is registered with this gateway (register it in "
            "the strata.agent_functions entry-point group or STRATA_AGENTS_FUNCTIONS)"
        )


def public(body: dict[str, Any]) -> dict[str, Any]:
    """A stored body without the gateway's own keys (``_openapi``)."""
    return {k: v for k, v in body.items() if not k.startswith("_")}
