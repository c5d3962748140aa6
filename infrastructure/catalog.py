"""Accelerators and SageMaker instance types: the facts the planner and provisioner work from.

Each instance type carries two on-demand prices: EC2 (the bare instance) and SageMaker real-time
hosting (what a strata endpoint is billed; ``ml.*`` costs more than EC2). Every price has a
``source`` and ``as_of``, and says when it is an estimate. Override either with a JSON file
(``instance_types(prices_path=...)``, ``strata plan --prices``) rather than editing code.
Accelerator memory is what the runtime can allocate (ECC GPUs expose less than the nameplate).
Instance names are checked against botocore's SageMaker ``ProductionVariantInstanceType`` enum by the tests.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from strata.errors import ConfigurationError, NotFoundError

AcceleratorFamily = Literal["trainium", "inferentia", "nvidia"]
PriceBasis = Literal["sagemaker", "ec2"]
PRICE_BASES: tuple[PriceBasis, ...] = ("sagemaker", "ec2")


@dataclass(frozen=True)
class Accelerator:
    """One accelerator chip/card."""

    name: str  # "Trainium2", "A10G", ...
    family: AcceleratorFamily
    memory_gib: float  # HBM/GDDR per chip, nameplate
    memory_bandwidth_gbps: float  # GB/s per chip (10^9 bytes/s)
    neuron_cores: int = 0  # NeuronCores per chip (Neuron only)
    sms: int = 0  # streaming multiprocessors (NVIDIA only)
    dense_bf16_tflops: float = 0.0  # peak dense BF16 per chip, for the compute ceiling
    usable_memory_gib: float | None = None  # what the runtime can allocate; None = nameplate

    @property
    def usable_gib(self) -> float:
        return self.memory_gib if self.usable_memory_gib is None else self.usable_memory_gib


@dataclass(frozen=True)
class Interconnect:
    """The fabric tensor-parallel collectives cross inside one instance."""

    name: str
    gbps_per_device: float  # GB/s per direction per GPU (or per Neuron chip)
    source: str


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str
    as_of: str  # ISO date the price was read
    estimated: bool = False  # derived from another price, not read from a price list


@dataclass(frozen=True)
class InstanceType:
    name: str  # SageMaker name, "ml.inf2.xlarge"
    accelerator: Accelerator
    accelerator_count: int
    vcpus: int
    host_memory_gib: float
    ec2_price: Price
    sagemaker_price: Price
    interconnect: Interconnect
    # Valid tensor-parallel degrees on this instance (NeuronCores for Neuron, GPUs otherwise).
    tp_degrees: tuple[int, ...] = (1,)

    @property
    def family(self) -> AcceleratorFamily:
        return self.accelerator.family

    @property
    def accelerator_memory_gib(self) -> float:
        """Usable accelerator memory of the whole instance (see :attr:`Accelerator.usable_gib`)."""
        return self.accelerator.usable_gib * self.accelerator_count

    @property
    def memory_bandwidth_gbps(self) -> float:
        return self.accelerator.memory_bandwidth_gbps * self.accelerator_count

    @property
    def neuron_cores(self) -> int:
        return self.accelerator.neuron_cores * self.accelerator_count

    def price(self, basis: PriceBasis = "sagemaker") -> Price:
        if basis not in PRICE_BASES:
            raise ConfigurationError(f"unknown price basis {basis!r}", hint="choose sagemaker or ec2")
        return self.sagemaker_price if basis == "sagemaker" else self.ec2_price


# Usable memory: the "total" nvidia-smi prints with ECC on, as seen in public nvidia-smi logs
# (A10G 23028 MiB, L4 23034 MiB, L40S 46068 MiB, A100-SXM4-40GB 40960 MiB, H100 80GB HBM3
# 81559 MiB). GDDR6 GPUs lose ~6% to in-band ECC; HBM ECC is side-band. Neuron HBM is as specified.
TRAINIUM = Accelerator("Trainium", "trainium", 32, 820, neuron_cores=2, dense_bf16_tflops=190)
# Trainium2 has 8 physical NeuronCores per chip, but Neuron's default (and inference-recommended)
# logical NeuronCore config LNC=2 pairs them: 4 logical cores per chip, 64 per trn2.48xlarge.
# Tensor parallelism and NEURON_RT_NUM_CORES count these logical cores.
TRAINIUM2 = Accelerator("Trainium2", "trainium", 96, 2900, neuron_cores=4, dense_bf16_tflops=667)
INFERENTIA2 = Accelerator("Inferentia2", "inferentia", 32, 820, neuron_cores=2, dense_bf16_tflops=190)
A10G = Accelerator("A10G", "nvidia", 24, 600, sms=80, dense_bf16_tflops=70, usable_memory_gib=23028 / 1024)
L4 = Accelerator("L4", "nvidia", 24, 300, sms=58, dense_bf16_tflops=121, usable_memory_gib=23034 / 1024)
L40S = Accelerator("L40S", "nvidia", 48, 864, sms=142, dense_bf16_tflops=362, usable_memory_gib=46068 / 1024)
A100_40 = Accelerator(
    "A100-40GB", "nvidia", 40, 1555, sms=108, dense_bf16_tflops=312, usable_memory_gib=40960 / 1024
)
H100 = Accelerator("H100", "nvidia", 80, 3350, sms=132, dense_bf16_tflops=989, usable_memory_gib=81559 / 1024)

_NVIDIA_SPEC = "NVIDIA data sheet (per GPU, per direction = half the bidirectional figure)"
NVLINK4 = Interconnect("NVLink 4 (NVSwitch)", 450, f"H100 SXM 900 GB/s bidirectional; {_NVIDIA_SPEC}")
NVLINK3 = Interconnect("NVLink 3 (NVSwitch)", 300, f"A100 SXM 600 GB/s bidirectional; {_NVIDIA_SPEC}")
PCIE4 = Interconnect("PCIe 4.0 x16", 31.5, "PCIe 4.0 x16 ~31.5 GB/s per direction; no NVLink on g5/g6/g6e")
NEURONLINK_V2 = Interconnect(
    "NeuronLink-v2", 192 * 1.073741824,
    "Inf2 architecture page: 192 GiB/s chip-to-chip per chip; Trn1 assumed the same (not verified)",
)  # fmt: skip
NEURONLINK_V3 = Interconnect(
    "NeuronLink-v3", 1024, "Trn2 architecture page: 4x4 torus inside trn2.48xlarge, 1,024 GB/s per chip"
)

# EC2 prices are on-demand, us-east-1, Linux.
_CHECKED = (
    "AWS EC2 On-Demand, us-east-1, Linux; cross-checked against third-party copies of the AWS price "
    "list feed (feed dated 2026-09-25)"
)
_MATCHED = (
    "AWS EC2 On-Demand, us-east-1, Linux, as entered 2025-10-01; equals the EC2 column of "
    "aws-samples/foundation-model-benchmarking-tool src/fmbench/configs/pricing.yml (commit 00ef155)"
)
_UNCHECKED = (
    "AWS EC2 On-Demand, us-east-1, Linux, as entered 2025-10-01; NOT re-verified (no independent copy "
    "found offline)"
)
# SageMaker real-time hosting prices. aws-samples/foundation-model-benchmarking-tool keeps a price
# table with both columns; it is used only where its EC2 column equals this catalog's EC2 price
# (so both columns are from the same price list). Elsewhere the SageMaker price is the EC2 price
# times the SageMaker/EC2 ratio that table shows for the nearest family, and is marked an estimate.
_FMBENCH = "aws-samples/foundation-model-benchmarking-tool src/fmbench/configs/pricing.yml (commit 00ef155)"
_SM_LISTED = f"AWS SageMaker real-time inference on-demand, as listed in {_FMBENCH}"
_HF_BENCH = "; the same rate is in Hugging Face's 'Llama 2 on Amazon SageMaker a Benchmark' (2023, us-west-2)"
_SM_READ = "2026-12-02"
# Ratios SageMaker/EC2 in that table: ml.g5.xlarge 1.4084/1.006 = 1.40 (xlarge sizes), every larger
# g5/g6 size 1.25, ml.trn1.32xlarge 28.497/21.50 = 1.325, ml.p4d/p5 1.15 (37.688/32.7726 and
# 113.068/98.32; those two rows predate the June 2025 EC2 P4/P5 price cut, so only the ratio is used).
_RATIO_NOTES = {
    1.40: "ml.g5.xlarge/g5.xlarge (xlarge sizes)",
    1.25: "every larger ml.g5/ml.g6 size",
    1.325: "ml.trn1.32xlarge/trn1.32xlarge",
    1.15: "ml.p4d and ml.p5, rows that predate the June 2025 EC2 P4/P5 price cut",
}


def _ec2(usd: float, checked: bool | str = True) -> Price:
    if checked == "fmbench":
        return Price(usd, _MATCHED, "2025-10-01")
    return Price(usd, _CHECKED, "2026-09-25") if checked else Price(usd, _UNCHECKED, "2025-10-01")


def _sm(usd: float, extra: str = "") -> Price:
    return Price(usd, _SM_LISTED + extra, _SM_READ)


def _sm_est(ec2: Price, ratio: float) -> Price:
    note = _RATIO_NOTES[ratio]
    source = (
        f"ESTIMATE: the EC2 price x {ratio:g}, the SageMaker/EC2 ratio of {note} "
        f"in {_FMBENCH}; no listed SageMaker rate found offline"
    )
    return Price(round(ec2.usd_per_hour * ratio, 4), source, _SM_READ, estimated=True)


def _inst(
    name: str, acc: Accelerator, count: int, vcpus: int, host_gib: float, ec2: Price,
    sm: Price | float, link: Interconnect, tp: tuple[int, ...] = (1,),
) -> InstanceType:  # fmt: skip
    sm_price = _sm_est(ec2, sm) if isinstance(sm, float) else sm
    return InstanceType(name, acc, count, vcpus, host_gib, ec2, sm_price, link, tp)


_INSTANCES: tuple[InstanceType, ...] = (
    _inst("ml.trn1.2xlarge", TRAINIUM, 1, 8, 32, _ec2(1.3438, False), 1.325, NEURONLINK_V2, (1, 2)),
    _inst("ml.trn1.32xlarge", TRAINIUM, 16, 128, 512, _ec2(21.50), _sm(28.497), NEURONLINK_V2, (2, 8, 32)),
    _inst("ml.trn1n.32xlarge", TRAINIUM, 16, 128, 512, _ec2(24.78), 1.325, NEURONLINK_V2, (2, 8, 32)),
    _inst("ml.trn2.48xlarge", TRAINIUM2, 16, 192, 2048, _ec2(44.70, False), 1.325, NEURONLINK_V3,
          (4, 8, 16, 32, 64)),
    _inst("ml.inf2.xlarge", INFERENTIA2, 1, 4, 16, _ec2(0.7582, "fmbench"), _sm(0.99), NEURONLINK_V2, (1, 2)),
    _inst("ml.inf2.8xlarge", INFERENTIA2, 1, 32, 128, _ec2(1.9679, "fmbench"), _sm(2.36), NEURONLINK_V2,
          (1, 2)),
    _inst("ml.inf2.24xlarge", INFERENTIA2, 6, 96, 384, _ec2(6.4906, "fmbench"), _sm(7.79), NEURONLINK_V2,
          (2, 4, 8, 12)),
    _inst("ml.inf2.48xlarge", INFERENTIA2, 12, 192, 768, _ec2(12.9813), _sm(15.58), NEURONLINK_V2,
          (2, 4, 8, 12, 24)),
    _inst("ml.g5.xlarge", A10G, 1, 4, 16, _ec2(1.006), _sm(1.4084), PCIE4),
    _inst("ml.g5.2xlarge", A10G, 1, 8, 32, _ec2(1.212), _sm(1.515, _HF_BENCH), PCIE4),
    _inst("ml.g5.12xlarge", A10G, 4, 48, 192, _ec2(5.672), _sm(7.09, _HF_BENCH), PCIE4, (1, 2, 4)),
    _inst("ml.g5.48xlarge", A10G, 8, 192, 768, _ec2(16.288, "fmbench"), _sm(20.36), PCIE4, (1, 2, 4, 8)),
    _inst("ml.g6.xlarge", L4, 1, 4, 16, _ec2(0.8048), 1.40, PCIE4),
    _inst("ml.g6.12xlarge", L4, 4, 48, 192, _ec2(4.6016, "fmbench"), _sm(5.752), PCIE4, (1, 2, 4)),
    _inst("ml.g6e.xlarge", L40S, 1, 4, 32, _ec2(1.861), 1.40, PCIE4),
    _inst("ml.g6e.12xlarge", L40S, 4, 48, 384, _ec2(10.493, False), 1.25, PCIE4, (1, 2, 4)),
    _inst("ml.g6e.48xlarge", L40S, 8, 192, 1536, _ec2(30.131, False), 1.25, PCIE4, (1, 2, 4, 8)),
    _inst("ml.p4d.24xlarge", A100_40, 8, 96, 1152, _ec2(21.9576), 1.15, NVLINK3, (1, 2, 4, 8)),
    _inst("ml.p5.48xlarge", H100, 8, 192, 2048, _ec2(55.04), 1.15, NVLINK4, (1, 2, 4, 8)),
)  # fmt: skip


def _parse_price(entry: Any, where: str) -> Price:
    try:
        usd = float(entry["usd_per_hour"])
        source, as_of = str(entry["source"]), str(entry["as_of"])
    except (KeyError, TypeError, ValueError):
        raise ConfigurationError(
            f"prices file entry for {where} needs usd_per_hour, source and as_of"
        ) from None
    if not math.isfinite(usd) or usd <= 0:
        raise ConfigurationError(
            f"prices file entry for {where}: usd_per_hour must be a positive number, got {usd}"
        )
    try:
        date.fromisoformat(as_of)
    except ValueError:
        raise ConfigurationError(f"prices file entry for {where}: as_of must be a YYYY-MM-DD date") from None
    if not source.strip():
        raise ConfigurationError(f"prices file entry for {where}: source must not be empty")
    return Price(usd, source, as_of)


def _apply_override(inst: InstanceType, entry: Any) -> InstanceType:
    """One price (``basis`` "sagemaker", the default, or "ec2"), or ``{"sagemaker": .., "ec2": ..}``."""
    if not isinstance(entry, dict):
        raise ConfigurationError(f"prices file entry for {inst.name} must be an object")
    if set(entry) <= set(PRICE_BASES) and entry:
        prices = {basis: _parse_price(e, f"{inst.name} ({basis})") for basis, e in entry.items()}
    else:
        basis = entry.get("basis", "sagemaker")
        if basis not in PRICE_BASES:
            raise ConfigurationError(f"prices file entry for {inst.name}: basis must be sagemaker or ec2")
        prices = {basis: _parse_price(entry, inst.name)}
    return replace(
        inst,
        sagemaker_price=prices.get("sagemaker", inst.sagemaker_price),
        ec2_price=prices.get("ec2", inst.ec2_price),
    )


def instance_types(prices_path: str | Path | None = None) -> tuple[InstanceType, ...]:
    """All catalogued instance types, with prices overridden from a JSON file if given.

    The file maps instance name to ``{"usd_per_hour": float, "source": str, "as_of": "YYYY-MM-DD"}``
    (a SageMaker hosting price; add ``"basis": "ec2"`` for an EC2 price), or to
    ``{"sagemaker": {...}, "ec2": {...}}`` to override both.
    """
    if prices_path is None:
        return _INSTANCES
    try:
        overrides = json.loads(Path(prices_path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read prices file {prices_path}: {exc}") from None
    if not isinstance(overrides, dict):
        raise ConfigurationError(f"prices file {prices_path} must map instance names to prices")
    known = {i.name for i in _INSTANCES}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigurationError(f"prices file names unknown instance types: {', '.join(unknown)}")
    return tuple(
        _apply_override(inst, overrides[inst.name]) if inst.name in overrides else inst for inst in _INSTANCES
    )


def get_instance_type(name: str, prices_path: str | Path | None = None) -> InstanceType:
    """Look up one instance type by SageMaker name; a clear error lists the valid names."""
    for inst in instance_types(prices_path):
        if inst.name == name:
            return inst
    names = ", ".join(i.name for i in _INSTANCES)
    raise NotFoundError(f"unknown instance type {name!r}", hint=f"choose one of: {names}")
