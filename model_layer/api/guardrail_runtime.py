"""The bedrock-runtime ApplyGuardrail operation: apply a guardrail version to content, no model involved.

``POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply``. The call counts as a
request against the tenant's rate limit (no tokens), and its text units are recorded per policy
in the guardrail usage table (:mod:`model_layer.guardrails.store`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from model_layer.api.deps import ServiceDep, TenantDep, request_id
from model_layer.errors import ValidationException
from model_layer.guardrails import check_apply_input
from model_layer.wire.openapi import bedrock_body_schema, request_body
from model_layer.wire.validate import parse_json_body

router = APIRouter(tags=["bedrock-runtime"])
SERVICE = "bedrock-runtime"
RATE_LIMIT_SCOPE = "ApplyGuardrail"  # the model id its rate-limit admission is counted under


@router.post(
    "/guardrail/{guardrail_identifier:path}/version/{guardrail_version}/apply",
    openapi_extra=request_body(bedrock_body_schema(SERVICE, "ApplyGuardrail")),
)
async def apply_guardrail(
    guardrail_identifier: str,
    guardrail_version: str,
    request: Request,
    tenant: TenantDep,
    service: ServiceDep,
) -> dict[str, Any]:
    body = parse_json_body(await request.body())
    params = {"guardrailIdentifier": guardrail_identifier, "guardrailVersion": guardrail_version}
    check_apply_input(body, params)
    if service.guardrails is None:
        raise ValidationException("Guardrails are not enabled on this gateway")
    admission = await service.limiter.admit(tenant, RATE_LIMIT_SCOPE, 0)
    try:
        result = await service.guardrails.apply_guardrail(
            tenant,
            guardrail_identifier,
            guardrail_version,
            body["source"],
            body["content"],
            output_scope=body.get("outputScope") or "INTERVENTIONS",
            request_id=request_id(request),
        )
    finally:
        await service.limiter.settle(admission, 0)
    return result.apply_response()
