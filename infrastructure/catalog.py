"""Accelerators and SageMaker instance types: the facts the planner and provisioner work from.

Every price carries a ``source`` and ``as_of``; override prices with a JSON file
(``instance_types(prices_path=...)``, ``strata plan --prices``) rather than editing code.
Instance names are checked against botocore's SageMaker ``ProductionVariantInstanceType`` enum by the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from strata.errors import ConfigurationError, NotFoundError

AcceleratorFamily = Literal["trainium", "inferentia", "nvidia"]


@dataclass(frozen=True)
class Accelerator:
    """One accelerator chip/card."""

    name: str  # "Trainium2", "A10G", ...
    family: AcceleratorFamily
    memory_gib: float  # HBM/GDDR per chip
    memory_bandwidth_gbps: float  # GB/s per chip (10^9 bytes/s)
    neuron_cores: int = 0  # NeuronCores per chip (Neuron only)
    sms: int = 0  # streaming multiprocessors (NVIDIA only)
    dense_bf16_tflops: float = 0.0  # peak dense BF16 per chip, for prefill estimates


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str
    as_of: str  # ISO date the price was read


@dataclass(frozen=True)
class InstanceType:
    name: str  # SageMaker name, "ml.inf2.xlarge"
    accelerator: Accelerator
    accelerator_count: int
    vcpus: int
    host_memory_gib: float
    price: Price
    # Valid tensor-parallel degrees on this instance (NeuronCores for Neuron, GPUs otherwise).
    tp_degrees: tuple[int, ...] = (1,)

    @property
    def family(self) -> AcceleratorFamily:
        return self.accelerator.family

    @property
    def accelerator_memory_gib(self) -> float:
        return self.accelerator.memory_gib * self.accelerator_count

    @property
    def memory_bandwidth_gbps(self) -> float:
        return self.accelerator.memory_bandwidth_gbps * self.accelerator_count

    @property
    def neuron_cores(self) -> int:
        return self.accelerator.neuron_cores * self.accelerator_count


TRAINIUM = Accelerator("Trainium", "trainium", 32, 820, neuron_cores=2, dense_bf16_tflops=190)
# Trainium2 has 8 physical NeuronCores per chip, but Neuron's default (and inference-recommended)
# logical NeuronCore config LNC=2 pairs them: 4 logical cores per chip, 64 per trn2.48xlarge.
# Tensor parallelism and NEURON_RT_NUM_CORES count these logical cores.
TRAINIUM2 = Accelerator("Trainium2", "trainium", 96, 2900, neuron_cores=4, dense_bf16_tflops=667)
INFERENTIA2 = Accelerator("Inferentia2", "inferentia", 32, 820, neuron_cores=2, dense_bf16_tflops=190)
A10G = Accelerator("A10G", "nvidia", 24, 600, sms=80, dense_bf16_tflops=70)
L4 = Accelerator("L4", "nvidia", 24, 300, sms=58, dense_bf16_tflops=121)
L40S = Accelerator("L40S", "nvidia", 48, 864, sms=142, dense_bf16_tflops=362)
A100_40 = Accelerator("A100-40GB", "nvidia", 40, 1555, sms=108, dense_bf16_tflops=312)
H100 = Accelerator("H100", "nvidia", 80, 3350, sms=132, dense_bf16_tflops=989)

# Prices are EC2 on-demand (us-east-1, Linux). SageMaker real-time hosting of the same instance
# costs more (ml.g5.xlarge $1.408 vs $1.006, ml.g6.xlarge $1.1267 vs $0.8048: ~1.4x); the EC2
# figure is kept so GPU and Neuron rows share one basis. Use --prices for SageMaker rates.
_CHECKED = (
    "AWS EC2 On-Demand, us-east-1, Linux; cross-checked against third-party copies of the AWS price "
    "list feed (feed dated 2026-09-25); excludes the SageMaker hosting markup"
)
_UNCHECKED = (
    "AWS EC2 On-Demand, us-east-1, Linux, as entered 2025-10-01; NOT re-verified (no independent copy "
    "found offline); excludes the SageMaker hosting markup"
)


def _p(usd: float, checked: bool = True) -> Price:
    return Price(usd, _CHECKED, "2026-09-25") if checked else Price(usd, _UNCHECKED, "2025-10-01")


_INSTANCES: tuple[InstanceType, ...] = (
    InstanceType("ml.trn1.2xlarge", TRAINIUM, 1, 8, 32, _p(1.3438, checked=False), (1, 2)),
    InstanceType("ml.trn1.32xlarge", TRAINIUM, 16, 128, 512, _p(21.50), (2, 8, 32)),
    InstanceType("ml.trn1n.32xlarge", TRAINIUM, 16, 128, 512, _p(24.78), (2, 8, 32)),
    InstanceType("ml.trn2.48xlarge", TRAINIUM2, 16, 192, 2048, _p(44.70, checked=False), (4, 8, 16, 32, 64)),
    InstanceType("ml.inf2.xlarge", INFERENTIA2, 1, 4, 16, _p(0.7582, checked=False), (1, 2)),
    InstanceType("ml.inf2.8xlarge", INFERENTIA2, 1, 32, 128, _p(1.9679, checked=False), (1, 2)),
    InstanceType("ml.inf2.24xlarge", INFERENTIA2, 6, 96, 384, _p(6.4906, checked=False), (2, 4, 8, 12)),
    InstanceType("ml.inf2.48xlarge", INFERENTIA2, 12, 192, 768, _p(12.9813), (2, 4, 8, 12, 24)),
    InstanceType("ml.g5.xlarge", A10G, 1, 4, 16, _p(1.006)),
    InstanceType("ml.g5.2xlarge", A10G, 1, 8, 32, _p(1.212)),
    InstanceType("ml.g5.12xlarge", A10G, 4, 48, 192, _p(5.672), (1, 2, 4)),
    InstanceType("ml.g5.48xlarge", A10G, 8, 192, 768, _p(16.288, checked=False), (1, 2, 4, 8)),
    InstanceType("ml.g6.xlarge", L4, 1, 4, 16, _p(0.8048)),
    InstanceType("ml.g6.12xlarge", L4, 4, 48, 192, _p(4.6016, checked=False), (1, 2, 4)),
    InstanceType("ml.g6e.xlarge", L40S, 1, 4, 32, _p(1.861)),
    InstanceType("ml.g6e.12xlarge", L40S, 4, 48, 384, _p(10.493, checked=False), (1, 2, 4)),
    InstanceType("ml.g6e.48xlarge", L40S, 8, 192, 1536, _p(30.131, checked=False), (1, 2, 4, 8)),
    InstanceType("ml.p4d.24xlarge", A100_40, 8, 96, 1152, _p(21.9576), (1, 2, 4, 8)),
    InstanceType("ml.p5.48xlarge", H100, 8, 192, 2048, _p(55.04), (1, 2, 4, 8)),
)


def instance_types(prices_path: str | Path | None = None) -> tuple[InstanceType, ...]:
    """All catalogued instance types, with prices overridden from a JSON file if given.

    The file maps instance name to ``{"usd_per_hour": float, "source": str, "as_of": str}``.
    """
    if prices_path is None:
        return _INSTANCES
    try:
        overrides = json.loads(Path(prices_path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read prices file {prices_path}: {exc}") from None
    known = {i.name for i in _INSTANCES}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigurationError(f"prices file names unknown instance types: {', '.join(unknown)}")
    out = []
    for inst in _INSTANCES:
        o = overrides.get(inst.name)
        if o is None:
            out.append(inst)
            continue
        try:
            price = Price(float(o["usd_per_hour"]), str(o["source"]), str(o["as_of"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError(
                f"prices file entry for {inst.name} needs usd_per_hour, source and as_of"
            ) from None
        out.append(replace(inst, price=price))
    return tuple(out)


def get_instance_type(name: str, prices_path: str | Path | None = None) -> InstanceType:
    """Look up one instance type by SageMaker name; a clear error lists the valid names."""
    for inst in instance_types(prices_path):
        if inst.name == name:
            return inst
    names = ", ".join(i.name for i in _INSTANCES)
    raise NotFoundError(f"unknown instance type {name!r}", hint=f"choose one of: {names}")
