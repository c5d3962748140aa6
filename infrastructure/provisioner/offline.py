"""Run the provisioner offline against moto (``strata provision --mock``, examples, tests; needs moto).

moto stands in for SageMaker and Application Auto Scaling but lags AWS in ways that matter here,
and :func:`moto_sagemaker_extended` fixes them for the duration of a ``with`` block:

* its SageMaker endpoint-config validation rejects ml.inf2/trn1/trn2/g5/g6/p4d/p5 (a stale list),
  so it is widened to botocore's ``ProductionVariantInstanceType`` enum, the product's own list;
* it has no ``UpdateEndpoint``, so a minimal one is added: it validates the config exists and
  moves the endpoint onto it (moto endpoints are ``InService`` at once, as for ``CreateEndpoint``);
* it has no inference components, so minimal Create/Describe/Update/Delete/ListInferenceComponents
  are added (a component is ``InService`` at once), and Application Auto Scaling is taught the
  ``sagemaker:inference-component:DesiredCopyCount`` dimension.

Nothing here narrows what the product accepts; it only lets moto accept what AWS accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from infrastructure.provisioner.spec import sagemaker_instance_types
from strata.errors import ConfigurationError


def _require_moto() -> None:
    try:
        import moto  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "offline mode needs moto", hint="pip install -e '.[dev]' (or `make setup`)"
        ) from None


def _update_endpoint_backend(backend: Any, endpoint_name: str, endpoint_config_name: str) -> str:
    from moto.sagemaker.exceptions import ValidationError

    endpoint = backend.endpoints.get(endpoint_name)
    if endpoint is None:
        raise ValidationError(message=f"Could not find endpoint '{endpoint_name}'.")
    config = backend.describe_endpoint_config(endpoint_config_name)  # raises if missing
    endpoint.endpoint_config_name = endpoint_config_name
    endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
    from moto.core.utils import utcnow

    endpoint.last_modified_time = utcnow()
    return endpoint.arn


def _components(backend: Any) -> dict[str, dict[str, Any]]:
    """The inference components of one moto SageMaker backend (cleared when moto resets it)."""
    store = backend.__dict__.get("_strata_components")
    if store is None:
        store = backend._strata_components = {}
    return store


def _find_component(backend: Any, name: str) -> dict[str, Any]:
    from moto.sagemaker.exceptions import ValidationError

    component = _components(backend).get(name)
    if component is None:
        raise ValidationError(message=f"Could not find inference component '{name}'.")
    return component


def _create_inference_component(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError

    backend = self.sagemaker_backend
    name, endpoint = self._get_param("InferenceComponentName"), self._get_param("EndpointName")
    spec = self._get_param("Specification") or {}
    if endpoint not in backend.endpoints:
        raise ValidationError(message=f"Could not find endpoint '{endpoint}'.")
    if spec.get("ModelName") not in backend._models:
        raise ValidationError(message=f"Could not find model '{spec.get('ModelName')}'.")
    if name in _components(backend):
        raise ValidationError(message=f'Cannot create already existing inference component "{name}".')
    copies = int((self._get_param("RuntimeConfig") or {}).get("CopyCount", 1))
    arn = f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:inference-component/{name}"
    now = utcnow()
    _components(backend)[name] = {
        "InferenceComponentName": name, "InferenceComponentArn": arn, "EndpointName": endpoint,
        "EndpointArn": backend.endpoints[endpoint].arn, "VariantName": self._get_param("VariantName"),
        "Specification": spec, "RuntimeConfig": {"DesiredCopyCount": copies, "CurrentCopyCount": copies},
        "InferenceComponentStatus": "InService", "CreationTime": now, "LastModifiedTime": now,
    }  # fmt: skip
    return ActionResult({"InferenceComponentArn": arn})


def _describe_inference_component(self: Any) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult(_find_component(self.sagemaker_backend, self._get_param("InferenceComponentName")))


def _update_inference_component(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow

    component = _find_component(self.sagemaker_backend, self._get_param("InferenceComponentName"))
    if self._get_param("Specification"):
        component["Specification"] = component["Specification"] | self._get_param("Specification")
    if self._get_param("RuntimeConfig"):
        copies = int(self._get_param("RuntimeConfig")["CopyCount"])
        component["RuntimeConfig"] = {"DesiredCopyCount": copies, "CurrentCopyCount": copies}
    component["LastModifiedTime"] = utcnow()
    return ActionResult({"InferenceComponentArn": component["InferenceComponentArn"]})


def _delete_inference_component(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    name = self._get_param("InferenceComponentName")
    _find_component(self.sagemaker_backend, name)
    del _components(self.sagemaker_backend)[name]
    return EmptyResult()


def _list_inference_components(self: Any) -> Any:
    from moto.core.responses import ActionResult

    endpoint, contains = self._get_param("EndpointNameEquals"), self._get_param("NameContains") or ""
    summaries = [
        {k: c[k] for k in ("InferenceComponentName", "InferenceComponentArn", "EndpointName", "EndpointArn",
                           "VariantName", "InferenceComponentStatus", "CreationTime", "LastModifiedTime")}
        for c in _components(self.sagemaker_backend).values()
        if (endpoint is None or c["EndpointName"] == endpoint) and contains in c["InferenceComponentName"]
    ]  # fmt: skip
    return ActionResult({"InferenceComponents": summaries})


_COMPONENT_HANDLERS = {
    "create_inference_component": _create_inference_component,
    "describe_inference_component": _describe_inference_component,
    "update_inference_component": _update_inference_component,
    "delete_inference_component": _delete_inference_component,
    "list_inference_components": _list_inference_components,
}
COPY_COUNT_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"


@contextmanager
def _autoscaling_knows_copy_counts() -> Iterator[None]:
    """moto validates scalable dimensions against a fixed enum; add the inference-component one."""
    from enum import Enum

    from moto.applicationautoscaling import models, responses

    original = models.ScalableDimensionValueSet
    members = {m.name: m.value for m in original} | {
        "SAGEMAKER_INFERENCE_COMPONENT_COPY_COUNT": COPY_COUNT_DIMENSION
    }
    widened = Enum("ScalableDimensionValueSet", members)  # type: ignore[misc]
    models.ScalableDimensionValueSet = widened  # type: ignore[misc]
    responses.ScalableDimensionValueSet = widened  # type: ignore[misc]
    try:
        yield
    finally:
        models.ScalableDimensionValueSet = original  # type: ignore[misc]
        responses.ScalableDimensionValueSet = original  # type: ignore[misc]


@contextmanager
def _sagemaker_has_components() -> Iterator[None]:
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    added = [name for name in _COMPONENT_HANDLERS if not hasattr(SageMakerResponse, name)]
    for name in added:
        setattr(SageMakerResponse, name, _COMPONENT_HANDLERS[name])
    original_check = SageMakerModelBackend.validate_production_variants

    def validate_production_variants(self: Any, variants: list[dict[str, Any]]) -> None:
        # A variant that hosts inference components names no model (AWS accepts it; moto did not).
        original_check(self, [v for v in variants if "ModelName" in v])

    SageMakerModelBackend.validate_production_variants = validate_production_variants  # type: ignore[method-assign]
    try:
        yield
    finally:
        SageMakerModelBackend.validate_production_variants = original_check  # type: ignore[method-assign]
        for name in added:
            delattr(SageMakerResponse, name)


@contextmanager
def moto_sagemaker_extended() -> Iterator[None]:
    """Patch moto (instance types, UpdateEndpoint, inference components) inside the block; restore after."""
    _require_moto()
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpointConfig
    from moto.sagemaker.responses import SageMakerResponse

    original_validate = FakeEndpointConfig.validate_instance_type
    had_update = hasattr(SageMakerResponse, "update_endpoint")

    def validate_instance_type(self: Any, instance_type: str) -> None:
        if instance_type not in sagemaker_instance_types():
            raise ValidationError(
                message=f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint"
            )

    def update_endpoint(self: Any) -> Any:
        arn = _update_endpoint_backend(
            self.sagemaker_backend, self._get_param("EndpointName"), self._get_param("EndpointConfigName")
        )
        return ActionResult({"EndpointArn": arn})

    FakeEndpointConfig.validate_instance_type = validate_instance_type  # type: ignore[method-assign]
    if not had_update:
        SageMakerResponse.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    try:
        with _sagemaker_has_components(), _autoscaling_knows_copy_counts():
            yield
    finally:
        FakeEndpointConfig.validate_instance_type = original_validate  # type: ignore[method-assign]
        if not had_update:
            del SageMakerResponse.update_endpoint  # type: ignore[attr-defined]


@contextmanager
def mocked_aws() -> Iterator[None]:
    """moto's in-process AWS, with the SageMaker extensions above."""
    _require_moto()
    from moto import mock_aws

    with ExitStack() as stack:
        stack.enter_context(moto_sagemaker_extended())
        stack.enter_context(mock_aws())
        yield
