"""Run the provisioner offline against moto (for examples and tests; needs the ``dev`` extra).

moto stands in for SageMaker and Application Auto Scaling but lags AWS in two ways that matter
here, and :func:`moto_sagemaker_extended` fixes both for the duration of a ``with`` block:

* its SageMaker endpoint-config validation rejects ml.inf2/trn1/trn2/g5/g6/p4d/p5 (a stale list),
  so it is widened to botocore's ``ProductionVariantInstanceType`` enum, the product's own list;
* it has no ``UpdateEndpoint``, so a minimal one is added: it validates the config exists and
  moves the endpoint onto it (moto endpoints are ``InService`` at once, as for ``CreateEndpoint``).

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


@contextmanager
def moto_sagemaker_extended() -> Iterator[None]:
    """Patch moto's SageMaker (instance types, UpdateEndpoint) inside the block; restore after."""
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
