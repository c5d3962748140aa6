"""TagResource / UntagResource / ListTagsForResource at ``/tags/{resourceArn}``: one set of handlers
for bedrock-agent and bedrock-agent-runtime, which both define them (see
:mod:`model_layer.api.collisions`). Tags live in one table keyed by ARN; the ARN's resource type
decides who may tag it (:func:`~model_layer.api.collisions.register_taggable`)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from model_layer.api import collisions
from model_layer.api.deps import TenantDep
from model_layer.api.knowledge_deps import KnowledgeDep
from model_layer.errors import ResourceNotFoundException, ValidationException
from model_layer.knowledge.records import account_id
from model_layer.wire.validate import parse_json_body, validate_input

router = APIRouter(tags=["bedrock-agent"])
MAX_TAGS = 50
# botocore's bedrock-agent model writes \d as /d in resourceArn's pattern, so no real ARN matches
# it; the ARN is checked here instead and a stand-in that fits the typo is validated in its place.
_ARN = re.compile(r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:[a-z-]+/[0-9a-zA-Z./:-]{1,200}")
_STAND_IN = "arn:aws:bedrock:us-east-1:/dddddddddddd:agent/ABCDEFGHIJ"


async def _owned(request: Request, tenant: Any, arn: str, operation: str) -> str:
    service = collisions.service_for_tags(arn)
    if not (20 <= len(arn) <= 1011 and _ARN.fullmatch(arn)):
        raise ValidationException(
            f"Value '{arn}' at 'resourceArn' failed to satisfy constraint: not a resource ARN"
        )
    owns = collisions.taggable(collisions.arn_resource_type(arn))
    if owns is None or not await owns(request.app.state, tenant, arn):
        raise ResourceNotFoundException(f"The resource {arn} does not exist")
    return service


@router.get("/tags/{resource_arn:path}")
async def list_tags_for_resource(
    resource_arn: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    await _owned(request, tenant, resource_arn, "ListTagsForResource")
    return {"tags": await knowledge.list_tags(resource_arn)}


@router.post("/tags/{resource_arn:path}")
async def tag_resource(
    resource_arn: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    service = await _owned(request, tenant, resource_arn, "TagResource")
    body = parse_json_body(await request.body())
    validate_input(service, "TagResource", body, {"resourceArn": _STAND_IN})
    current = await knowledge.list_tags(resource_arn)
    if len(current | body["tags"]) > MAX_TAGS:
        raise ValidationException(f"A resource can have at most {MAX_TAGS} tags")
    await knowledge.tag_resource(tenant, resource_arn, body["tags"])
    return {}


@router.delete("/tags/{resource_arn:path}")
async def untag_resource(
    resource_arn: str, request: Request, tenant: TenantDep, knowledge: KnowledgeDep
) -> JSONResponse:
    service = await _owned(request, tenant, resource_arn, "UntagResource")
    keys = request.query_params.getlist("tagKeys")
    validate_input(service, "UntagResource", params={"resourceArn": _STAND_IN, "tagKeys": keys})
    await knowledge.untag_resource(resource_arn, keys)
    return JSONResponse({})


async def _owns_knowledge_base(state: Any, tenant: Any, arn: str) -> bool:
    knowledge = getattr(state, "knowledge", None)
    if knowledge is None or arn.split(":")[4:5] != [account_id(tenant.tenant_id)]:
        return False
    try:
        await knowledge.get_knowledge_base(tenant, arn.rsplit("/", 1)[-1])
    except ResourceNotFoundException:
        return False
    return True


collisions.register_taggable("knowledge-base", _owns_knowledge_base)
