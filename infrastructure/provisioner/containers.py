"""Serving containers for SageMaker endpoints: which AWS Deep Learning Container image, and its environment.

One table (:data:`IMAGES`) names the image per platform (Neuron for Trainium/Inferentia, GPU for
NVIDIA) and server (Hugging Face TGI or DJL LMI); :func:`container_for` turns a serving plan into
the image URI for a region plus the environment variables that server reads. The tags were read
from the SageMaker Python SDK's ``image_uri_config`` files (``huggingface-llm-neuronx.json``,
``huggingface-llm.json``, ``djl-neuronx.json``, ``djl-lmi.json``); bump them here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infrastructure.catalog import InstanceType
from strata.errors import ConfigurationError

Server = Literal["tgi", "lmi"]
Platform = Literal["neuron", "gpu"]
SERVERS: tuple[Server, ...] = ("tgi", "lmi")

# AWS Deep Learning Container registry account per region (sagemaker-python-sdk image_uri_config).
# Most commercial regions share 763104351884; opt-in, China and GovCloud regions have their own.
DLC_ACCOUNTS: dict[str, str] = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-northeast-1": "763104351884",
    "ap-northeast-2": "763104351884",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "763104351884",
    "ap-south-2": "772153158452",
    "ap-southeast-1": "763104351884",
    "ap-southeast-2": "763104351884",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ca-central-1": "763104351884",
    "ca-west-1": "204538143572",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
    "eu-central-1": "763104351884",
    "eu-central-2": "380420809688",
    "eu-north-1": "763104351884",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "eu-west-1": "763104351884",
    "eu-west-2": "763104351884",
    "eu-west-3": "763104351884",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "sa-east-1": "763104351884",
    "us-east-1": "763104351884",
    "us-east-2": "763104351884",
    "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353",
    "us-west-1": "763104351884",
    "us-west-2": "763104351884",
}

# Neuron images are published only where Inf2/Trn1 hosting exists (the SDK's registries lists).
_TGI_NEURON_REGIONS = frozenset(
    [
        "ap-northeast-1",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-4",
        "ap-southeast-5",
        "ca-west-1",
        "cn-north-1",
        "cn-northwest-1",
        "eu-central-1",
        "eu-central-2",
        "eu-south-2",
        "eu-west-1",
        "eu-west-3",
        "il-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-gov-east-1",
        "us-gov-west-1",
        "us-west-2",
    ]
)
_LMI_NEURON_REGIONS = frozenset(
    [
        "ap-northeast-1",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ca-west-1",
        "eu-central-1",
        "eu-west-1",
        "eu-west-3",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-2",
    ]
)


@dataclass(frozen=True)
class ContainerImage:
    """One DLC image: repository and tag, and the regions it is published in (None: every DLC region)."""

    repository: str
    tag: str
    regions: frozenset[str] | None = None

    def uri(self, region: str) -> str:
        account = DLC_ACCOUNTS.get(region)
        if account is None or (self.regions is not None and region not in self.regions):
            where = sorted(self.regions) if self.regions is not None else sorted(DLC_ACCOUNTS)
            raise ConfigurationError(
                f"{self.repository}:{self.tag} is not published in region {region!r}",
                hint=f"use one of: {', '.join(where)}",
            )
        domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return f"{account}.dkr.ecr.{region}.{domain}/{self.repository}:{self.tag}"


IMAGES: dict[tuple[Platform, Server], ContainerImage] = {
    ("neuron", "tgi"): ContainerImage(
        "huggingface-pytorch-tgi-inference",
        "2.1.2-optimum0.0.27-neuronx-py310-ubuntu22.04",
        _TGI_NEURON_REGIONS,
    ),
    ("neuron", "lmi"): ContainerImage("djl-inference", "0.29.0-neuronx-sdk2.19.1", _LMI_NEURON_REGIONS),
    ("gpu", "tgi"): ContainerImage(
        "huggingface-pytorch-tgi-inference", "2.4.0-tgi3.0.1-gpu-py311-cu124-ubuntu22.04"
    ),
    ("gpu", "lmi"): ContainerImage("djl-inference", "0.30.0-lmi12.0.0-cu124"),
}

# Neuron containers compile (or fetch a cached compile of) the model at start-up, which can take
# tens of minutes for large models; SageMaker's defaults would mark the endpoint Failed first.
NEURON_STARTUP_TIMEOUT_S = 1800
NEURON_DOWNLOAD_TIMEOUT_S = 1800
GPU_STARTUP_TIMEOUT_S = 900
GPU_DOWNLOAD_TIMEOUT_S = 1200


@dataclass(frozen=True)
class ServingParams:
    """What the container must serve: the model and the shape the planner sized it for."""

    hf_model_id: str
    tp_degree: int
    max_batch_size: int
    max_input_tokens: int
    max_total_tokens: int
    dtype: str = "bf16"


@dataclass(frozen=True)
class ContainerConfig:
    """A resolved container: image URI, environment and the timeouts its platform needs."""

    image: str
    environment: dict[str, str]
    startup_health_check_timeout_s: int
    model_download_timeout_s: int
    server: Server
    platform: Platform


def platform_of(instance: InstanceType) -> Platform:
    return "neuron" if instance.family in ("trainium", "inferentia") else "gpu"


def _tgi_env(p: ServingParams, platform: Platform) -> dict[str, str]:
    env = {
        "HF_MODEL_ID": p.hf_model_id,
        "MAX_INPUT_TOKENS": str(p.max_input_tokens),
        "MAX_TOTAL_TOKENS": str(p.max_total_tokens),
    }
    if platform == "neuron":
        # optimum-neuron compiles a static batch for a NeuronCore count (= tensor-parallel degree).
        return env | {
            "HF_NUM_CORES": str(p.tp_degree),
            "HF_AUTO_CAST_TYPE": p.dtype,
            "MAX_BATCH_SIZE": str(p.max_batch_size),
        }
    # GPU TGI batches dynamically; it caps concurrency instead of compiling a batch size.
    return env | {
        "SM_NUM_GPUS": str(p.tp_degree),
        "MAX_CONCURRENT_REQUESTS": str(p.max_batch_size),
        "DTYPE": "bfloat16" if p.dtype == "bf16" else "float16",
    }


def _lmi_env(p: ServingParams, platform: Platform) -> dict[str, str]:
    env = {
        "HF_MODEL_ID": p.hf_model_id,
        "TENSOR_PARALLEL_DEGREE": str(p.tp_degree),
        "OPTION_MAX_ROLLING_BATCH_SIZE": str(p.max_batch_size),
        "OPTION_DTYPE": p.dtype,
    }
    if platform == "neuron":
        env |= {
            "OPTION_ENTRYPOINT": "djl_python.transformers_neuronx",
            "OPTION_ROLLING_BATCH": "auto",
            "OPTION_N_POSITIONS": str(p.max_total_tokens),
        }
    else:
        env |= {"OPTION_ROLLING_BATCH": "lmi-dist", "OPTION_MAX_MODEL_LEN": str(p.max_total_tokens)}
    return env


_ENV_BUILDERS = {"tgi": _tgi_env, "lmi": _lmi_env}


def container_for(
    instance: InstanceType,
    server: str,
    params: ServingParams,
    region: str,
    extra_env: dict[str, str] | None = None,
) -> ContainerConfig:
    """The image and environment that serve ``params`` on ``instance`` in ``region``."""
    if server not in SERVERS:
        raise ConfigurationError(f"unknown server {server!r}", hint=f"choose one of: {', '.join(SERVERS)}")
    platform = platform_of(instance)
    image = IMAGES[(platform, server)].uri(region)  # type: ignore[index]
    env = _ENV_BUILDERS[server](params, platform) | dict(extra_env or {})
    neuron = platform == "neuron"
    return ContainerConfig(
        image=image,
        environment=env,
        startup_health_check_timeout_s=NEURON_STARTUP_TIMEOUT_S if neuron else GPU_STARTUP_TIMEOUT_S,
        model_download_timeout_s=NEURON_DOWNLOAD_TIMEOUT_S if neuron else GPU_DOWNLOAD_TIMEOUT_S,
        server=server,  # type: ignore[arg-type]
        platform=platform,
    )
