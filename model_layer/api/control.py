"""The bedrock control-plane API for models: ListFoundationModels, GetFoundationModel, inference profiles.

The gateway's models are shown as foundation models (``arn:aws:bedrock:{region}::foundation-model/{id}``)
so ``boto3.client("bedrock").list_foundation_models()`` and langchain's model lookups work
unchanged. The gateway has no inference profiles: listing returns none, getting one is a 404
(langchain only asks for ``application-inference-profile`` ids). Query parameters are checked
against botocore's model like every other input.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from model_layer.api.deps import ServiceDep, TenantDep, region
from model_layer.errors import ResourceNotFoundException
from model_layer.types import ModelInfo
from model_layer.wire.validate import bind_params, validate_input

router = APIRouter(tags=["bedrock"])
SERVICE = "bedrock"


def model_arn(region: str, model_id: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def model_summary(model: ModelInfo, region: str) -> dict[str, Any]:
    """A FoundationModelSummary (also the body of GetFoundationModel's ``modelDetails``)."""
    return {
        "modelArn": model_arn(region, model.model_id),
        "modelId": model.model_id,
        "modelName": model.name,
        "providerName": model.provider_name,
        "inputModalities": list(model.input_modalities),
        "outputModalities": list(model.output_modalities),
        "responseStreamingSupported": model.streaming,
        "customizationsSupported": [],
        "inferenceTypesSupported": ["ON_DEMAND"],
        "modelLifecycle": {"status": "ACTIVE"},
    }


def _matches(model: ModelInfo, filters: dict[str, Any]) -> bool:
    provider = filters.get("byProvider")
    if provider is not None:
        # providerName may hold characters the filter's pattern forbids, so the id's
        # provider segment ("amazon" in "amazon.titan-…") matches too
        names = {model.provider_name.lower(), model.model_id.split(".", 1)[0].lower()}
        if provider.lower() not in names:
            return False
    modality = filters.get("byOutputModality")
    if modality is not None and modality not in model.output_modalities:
        return False
    if filters.get("byInferenceType", "ON_DEMAND") != "ON_DEMAND":
        return False
    # no gateway model can be customized
    return filters.get("byCustomizationType") is None


@router.get("/foundation-models")
async def list_foundation_models(
    request: Request,
    tenant: TenantDep,
    service: ServiceDep,
) -> dict[str, Any]:
    filters = bind_params(SERVICE, "ListFoundationModels", query=request.query_params)
    validate_input(SERVICE, "ListFoundationModels", params=filters)
    where = region(request)
    models = [m for m in service.list_models(tenant) if _matches(m, filters)]
    return {"modelSummaries": [model_summary(m, where) for m in models]}


@router.get("/foundation-models/{model_identifier:path}")
async def get_foundation_model(
    model_identifier: str,
    request: Request,
    tenant: TenantDep,
    service: ServiceDep,
) -> dict[str, Any]:
    try:
        model = service.get_model(model_identifier, tenant)
    except ResourceNotFoundException:
        # the model's pattern is narrower than gateway ids (upper case, '_'), so it is checked
        # only for ids the gateway does not serve: a malformed one is a 400, not a 404
        validate_input(SERVICE, "GetFoundationModel", params={"modelIdentifier": model_identifier})
        raise
    return {"modelDetails": model_summary(model, region(request))}


@router.get("/inference-profiles")
async def list_inference_profiles(request: Request, tenant: TenantDep) -> dict[str, Any]:
    params = bind_params(SERVICE, "ListInferenceProfiles", query=request.query_params)
    validate_input(SERVICE, "ListInferenceProfiles", params=params)
    return {"inferenceProfileSummaries": []}


@router.get("/inference-profiles/{inference_profile_identifier:path}")
async def get_inference_profile(inference_profile_identifier: str, tenant: TenantDep) -> dict[str, Any]:
    params = {"inferenceProfileIdentifier": inference_profile_identifier}
    validate_input(SERVICE, "GetInferenceProfile", params=params)
    raise ResourceNotFoundException(
        f"Inference profile {inference_profile_identifier} not found: this gateway serves models "
        "by model id (see ListFoundationModels)"
    )
