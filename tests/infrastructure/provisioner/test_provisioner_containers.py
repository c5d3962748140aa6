"""Container images and environments per accelerator platform and serving engine."""

from __future__ import annotations

import pytest

from infrastructure.catalog import get_instance_type
from infrastructure.provisioner.containers import (
    DLC_ACCOUNTS,
    IMAGES,
    ServingParams,
    container_for,
    platform_of,
)
from strata.errors import ConfigurationError

PARAMS = ServingParams("meta-llama/Llama-3.1-8B-Instruct", 2, 8, 3072, 4096)


@pytest.mark.parametrize(
    ("instance", "platform"),
    [
        ("ml.inf2.xlarge", "neuron"),
        ("ml.trn1.32xlarge", "neuron"),
        ("ml.g5.12xlarge", "gpu"),
        ("ml.p5.48xlarge", "gpu"),
    ],
)
def test_platform_follows_accelerator_family(instance, platform):
    assert platform_of(get_instance_type(instance)) == platform


def test_tgi_neuron_env_and_image():
    c = container_for(get_instance_type("ml.inf2.xlarge"), "tgi", PARAMS, "us-east-1")
    assert c.image == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
        "2.1.2-optimum0.0.27-neuronx-py310-ubuntu22.04"
    )
    assert c.environment == {
        "HF_MODEL_ID": "meta-llama/Llama-3.1-8B-Instruct",
        "HF_NUM_CORES": "2",
        "HF_AUTO_CAST_TYPE": "bf16",
        "MAX_BATCH_SIZE": "8",
        "MAX_INPUT_TOKENS": "3072",
        "MAX_TOTAL_TOKENS": "4096",
    }
    # Neuron compiles at start-up: SageMaker must wait at least 30 minutes before calling it dead.
    assert c.startup_health_check_timeout_s >= 1800
    assert c.model_download_timeout_s >= 1800


def test_lmi_neuron_env():
    c = container_for(get_instance_type("ml.trn1.32xlarge"), "lmi", PARAMS, "us-west-2")
    assert c.image.endswith("/djl-inference:0.29.0-neuronx-sdk2.19.1")
    assert c.environment["TENSOR_PARALLEL_DEGREE"] == "2"
    assert c.environment["OPTION_N_POSITIONS"] == "4096"
    assert c.environment["OPTION_MAX_ROLLING_BATCH_SIZE"] == "8"
    assert c.environment["OPTION_ENTRYPOINT"] == "djl_python.transformers_neuronx"


def test_gpu_tgi_and_lmi_env():
    g5 = get_instance_type("ml.g5.12xlarge")
    tgi = container_for(g5, "tgi", PARAMS, "eu-west-1")
    assert tgi.image.startswith(
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
    )
    assert "gpu" in tgi.image
    assert tgi.environment["SM_NUM_GPUS"] == "2"
    assert "HF_NUM_CORES" not in tgi.environment
    assert tgi.startup_health_check_timeout_s < 1800
    lmi = container_for(g5, "lmi", PARAMS, "eu-west-1")
    assert lmi.environment["TENSOR_PARALLEL_DEGREE"] == "2"
    assert lmi.environment["OPTION_MAX_MODEL_LEN"] == "4096"


def test_regional_accounts_and_china_domain():
    g5 = get_instance_type("ml.g5.xlarge")
    assert container_for(g5, "tgi", PARAMS, "me-south-1").image.startswith("217643126080.dkr.ecr.me-south-1.")
    cn = container_for(get_instance_type("ml.inf2.xlarge"), "tgi", PARAMS, "cn-north-1").image
    assert cn.startswith("727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/")


def test_neuron_image_missing_in_region_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="not published in region 'af-south-1'"):
        container_for(get_instance_type("ml.inf2.xlarge"), "tgi", PARAMS, "af-south-1")
    with pytest.raises(ConfigurationError, match="not published"):
        container_for(get_instance_type("ml.g5.xlarge"), "tgi", PARAMS, "xx-nowhere-1")


def test_unknown_server_and_extra_env():
    inf2 = get_instance_type("ml.inf2.xlarge")
    with pytest.raises(ConfigurationError, match="unknown server 'vllm'"):
        container_for(inf2, "vllm", PARAMS, "us-east-1")
    c = container_for(inf2, "tgi", PARAMS, "us-east-1", {"HF_TOKEN": "x", "MAX_BATCH_SIZE": "2"})
    assert c.environment["HF_TOKEN"] == "x" and c.environment["MAX_BATCH_SIZE"] == "2"


def test_image_table_is_one_table_with_known_registries():
    assert {k[0] for k in IMAGES} == {"neuron", "gpu"} and {k[1] for k in IMAGES} == {"tgi", "lmi"}
    for image in IMAGES.values():
        assert image.regions is None or image.regions <= set(DLC_ACCOUNTS)
