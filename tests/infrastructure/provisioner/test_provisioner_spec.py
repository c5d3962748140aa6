"""Desired-state specs: validation, names/hashes, and request shapes checked by botocore."""

from __future__ import annotations

import re

import botocore.session
import pytest
from botocore.validate import ParamValidator

from infrastructure.provisioner.spec import (
    MAX_ENDPOINT_NAME,
    ROLE_ENV,
    config_name_re,
    model_name_re,
    sagemaker_instance_types,
)
from strata.errors import ConfigurationError, NotFoundError

SM = botocore.session.get_session().get_service_model("sagemaker")


def _valid(operation: str, params: dict) -> None:
    report = ParamValidator().validate(params, SM.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def test_requests_are_valid_sagemaker_requests(make_spec):
    spec = make_spec()
    _valid("CreateModel", spec.create_model_request())
    _valid("CreateEndpointConfig", spec.create_endpoint_config_request())
    variant = spec.create_endpoint_config_request()["ProductionVariants"][0]
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 1800
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 1800
    assert variant["InstanceType"] == "ml.inf2.xlarge" and variant["InitialInstanceCount"] == 1
    pattern = re.compile(SM.shape_for("EndpointConfigName").metadata["pattern"])
    assert pattern.fullmatch(spec.config_name) and pattern.fullmatch(spec.model_name)


def test_names_are_stable_hashes_of_content(make_spec):
    a, b = make_spec(), make_spec()
    assert (a.model_name, a.config_name) == (b.model_name, b.config_name)
    assert model_name_re("demo").match(a.model_name) and config_name_re("demo").match(a.config_name)
    assert not config_name_re("dem").match(a.config_name)
    # Same cores, bigger host: the model (image + env) is reused, only the config changes.
    bigger = make_spec(instance="ml.inf2.8xlarge")
    assert bigger.model_name == a.model_name and bigger.config_name != a.config_name
    # Different environment: a new model, hence a new config that points at it.
    longer = make_spec(context_tokens=8192)
    assert longer.model_name != a.model_name and longer.config_name != a.config_name
    # Max capacity lives in Application Auto Scaling, not in the endpoint config.
    assert make_spec(max_capacity=8).config_name == a.config_name
    assert make_spec(min_capacity=2).config_name != a.config_name


def test_longest_endpoint_name_still_gives_valid_resource_names(make_spec):
    spec = make_spec(name="e" * MAX_ENDPOINT_NAME)
    assert len(spec.config_name) <= 63 and len(spec.model_name) <= 63
    with pytest.raises(ConfigurationError, match="invalid endpoint name"):
        make_spec(name="e" * (MAX_ENDPOINT_NAME + 1))
    for bad in ("-demo", "demo-", "de_mo", ""):
        with pytest.raises(ConfigurationError, match="invalid endpoint name"):
            make_spec(name=bad)


def test_planner_sizes_the_container(make_spec):
    spec = make_spec(concurrency=8, context_tokens=4096)
    env = spec.container.environment
    assert env["HF_MODEL_ID"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert env["HF_NUM_CORES"] == "2" and env["MAX_BATCH_SIZE"] == "8"
    assert env["MAX_TOTAL_TOKENS"] == "4096" and int(env["MAX_INPUT_TOKENS"]) < 4096
    # 8 slots x ~6 requests a minute each.
    assert spec.scaling.target_invocations == 48.0
    assert (
        not spec.uses_components and spec.scaling.target.dimension == "sagemaker:variant:DesiredInstanceCount"
    )


def test_defaults_are_the_plan_defaults(make_spec):
    # strata plan sizes 8192 tokens x 16 sequences by default; so does provision
    spec = make_spec(instance="ml.p5.48xlarge", context_tokens=None, concurrency=None)
    env = spec.container.environment
    assert (env["MAX_TOTAL_TOKENS"], env["MAX_CONCURRENT_REQUESTS"], env["SM_NUM_GPUS"]) == (
        "8192",
        "16",
        "8",
    )
    assert "tensor-parallel degree 8 x 1 copy per instance, 16 sequences x 8192 tokens" in spec.summary


@pytest.mark.parametrize(
    "instance, tp, copies, chips",
    [("ml.inf2.48xlarge", 12, 2, 6), ("ml.trn2.48xlarge", 16, 4, 4)],
)
def test_several_copies_per_instance_become_one_inference_component(make_spec, instance, tp, copies, chips):
    spec = make_spec(instance=instance, context_tokens=None, concurrency=None, min_capacity=1, max_capacity=3)
    env = spec.container.environment
    assert env["HF_NUM_CORES"] == str(tp) and env["MAX_BATCH_SIZE"] == str(16 // copies)
    p = spec.placement
    assert (p.copies, p.accelerators_per_copy, spec.uses_components) == (copies, chips, True)
    variant = spec.create_endpoint_config_request()["ProductionVariants"][0]
    assert "ModelName" not in variant
    assert variant["ManagedInstanceScaling"] == {
        "Status": "ENABLED",
        "MinInstanceCount": 1,
        "MaxInstanceCount": 3,
    }
    ic = spec.create_inference_component_request()
    assert ic["Specification"]["ModelName"] == spec.model_name
    assert ic["Specification"]["ComputeResourceRequirements"]["NumberOfAcceleratorDevicesRequired"] == chips
    assert ic["RuntimeConfig"] == {"CopyCount": copies}
    # autoscaling scales copies (1..3 instances x copies), SageMaker adds instances as copies need them
    assert (spec.scaling.min_capacity, spec.scaling.max_capacity) == (copies, 3 * copies)
    assert spec.scaling.target.resource_id == "inference-component/demo-ic"
    _valid("CreateEndpointConfig", spec.create_endpoint_config_request())
    _valid("CreateInferenceComponent", ic)
    _valid("UpdateInferenceComponent", spec.update_inference_component_request())


def test_explicit_tp_is_checked(make_spec):
    assert make_spec(instance="ml.inf2.24xlarge", tp=8).container.environment["HF_NUM_CORES"] == "8"
    with pytest.raises(
        ConfigurationError, match=r"tensor-parallel degree 3 is not possible on ml\.inf2\.24xlarge"
    ):
        make_spec(instance="ml.inf2.24xlarge", tp=3)
    with pytest.raises(ConfigurationError, match="too small"):
        make_spec(model="llama-3.1-70b", instance="ml.inf2.48xlarge", tp=2)


def test_model_that_does_not_fit_is_refused(make_spec):
    with pytest.raises(ConfigurationError, match=r"llama-3.1-70b does not fit ml.inf2.xlarge"):
        make_spec(model="llama-3.1-70b", instance="ml.inf2.xlarge")


def test_unknown_model_and_bare_hf_id(make_spec):
    with pytest.raises(NotFoundError, match="unknown model preset 'gpt-99'"):
        make_spec(model="gpt-99")
    with pytest.raises(ConfigurationError, match="pass --tp"):
        make_spec(model="acme/secret-model")
    spec = make_spec(model="acme/secret-model", tp=2)
    assert spec.container.environment["HF_MODEL_ID"] == "acme/secret-model"
    assert spec.notes and "not checked" in spec.notes[0]


def test_instance_types_checked_against_catalog_and_botocore(make_spec, monkeypatch):
    with pytest.raises(NotFoundError, match=r"unknown instance type 'ml\.inf9\.xlarge'"):
        make_spec(instance="ml.inf9.xlarge")
    assert {"ml.inf2.xlarge", "ml.trn2.48xlarge", "ml.p5.48xlarge"} <= sagemaker_instance_types()
    # A catalogued type SageMaker's model does not list is refused too.
    monkeypatch.setattr(
        "infrastructure.provisioner.spec.sagemaker_instance_types", lambda: frozenset({"ml.g5.xlarge"})
    )
    with pytest.raises(ConfigurationError, match="not a SageMaker hosting instance type"):
        make_spec(instance="ml.inf2.xlarge")


def test_role_from_flag_or_env(make_spec, monkeypatch):
    monkeypatch.delenv(ROLE_ENV, raising=False)
    with pytest.raises(ConfigurationError, match="no SageMaker execution role"):
        make_spec(role_arn=None)
    monkeypatch.setenv(ROLE_ENV, "arn:aws:iam::111122223333:role/from-env")
    assert make_spec(role_arn=None).role_arn.endswith("role/from-env")
    with pytest.raises(ConfigurationError, match="invalid role ARN"):
        make_spec(role_arn="my-role")


def test_capacity_bounds(make_spec):
    for lo, hi in ((0, 1), (3, 2)):
        with pytest.raises(ConfigurationError, match="invalid capacity"):
            make_spec(min_capacity=lo, max_capacity=hi)
