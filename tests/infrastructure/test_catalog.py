"""The instance catalog: real SageMaker names, honest prices on two bases, usable memory, overrides."""

from __future__ import annotations

import json

import botocore.session
import pytest

from infrastructure.catalog import get_instance_type, instance_types
from strata.errors import ConfigurationError, NotFoundError

SAGEMAKER_HOSTING_TYPES = set(
    botocore.session.get_session()
    .get_service_model("sagemaker")
    .shape_for("ProductionVariantInstanceType")
    .enum
)


def test_catalog_covers_the_required_families_with_enough_types():
    names = [i.name for i in instance_types()]
    assert len(names) >= 14
    assert len(set(names)) == len(names)
    for family in ("trn1", "trn2", "inf2", "g5", "g6", "g6e", "p4d", "p5"):
        assert any(n.startswith(f"ml.{family}.") for n in names), family


@pytest.mark.parametrize("inst", instance_types(), ids=lambda i: i.name)
def test_every_type_is_a_valid_sagemaker_hosting_instance(inst):
    assert inst.name in SAGEMAKER_HOSTING_TYPES


@pytest.mark.parametrize("inst", instance_types(), ids=lambda i: i.name)
def test_specs_and_prices_are_consistent(inst):
    ec2, sm = inst.price("ec2"), inst.price("sagemaker")
    assert "us-east-1" in ec2.source and not ec2.estimated
    for price in (ec2, sm):
        assert price.usd_per_hour > 0 and price.source
        assert len(price.as_of) == 10 and price.as_of[4] == "-"
    # SageMaker hosting costs more than the bare instance; an estimate says so and how it was made
    assert sm.usd_per_hour > ec2.usd_per_hour
    assert sm.estimated == sm.source.startswith("ESTIMATE")
    units = inst.neuron_cores if inst.family != "nvidia" else inst.accelerator_count
    assert max(inst.tp_degrees) <= units, "a TP degree cannot exceed the devices it spans"
    assert (inst.neuron_cores > 0) == (inst.family in ("trainium", "inferentia"))
    assert inst.accelerator.usable_gib <= inst.accelerator.memory_gib
    assert inst.interconnect.gbps_per_device > 0 and inst.interconnect.source


def test_listed_sagemaker_prices_are_not_estimates():
    # Read from a price table whose EC2 column equals this catalog's EC2 price for the same type.
    for name, usd in (("ml.g5.xlarge", 1.4084), ("ml.g5.12xlarge", 7.09), ("ml.inf2.48xlarge", 15.58),
                      ("ml.trn1.32xlarge", 28.497)):  # fmt: skip
        sm = get_instance_type(name).sagemaker_price
        assert (sm.usd_per_hour, sm.estimated) == (usd, False)
    # p5's listed SageMaker row predates the EC2 price cut: only its ratio is used, as an estimate
    p5 = get_instance_type("ml.p5.48xlarge")
    assert p5.sagemaker_price.estimated and p5.sagemaker_price.usd_per_hour == pytest.approx(55.04 * 1.15)


def test_known_spec_sheet_figures():
    trn2 = get_instance_type("ml.trn2.48xlarge")
    assert trn2.accelerator_memory_gib == 16 * 96  # 1.5 TiB HBM
    assert trn2.memory_bandwidth_gbps == pytest.approx(46_400)  # 16 x 2.9 TB/s
    assert trn2.neuron_cores == 64  # logical NeuronCores at LNC=2 (128 physical)
    inf2 = get_instance_type("ml.inf2.48xlarge")
    assert (inf2.accelerator_memory_gib, inf2.neuron_cores) == (384, 24)
    p5 = get_instance_type("ml.p5.48xlarge")
    assert p5.memory_bandwidth_gbps == 8 * 3350
    assert p5.interconnect.name.startswith("NVLink") and get_instance_type("ml.g5.12xlarge").interconnect.name


def test_ecc_gpus_expose_less_than_the_nameplate():
    # nvidia-smi totals with ECC on: A10G 23028 MiB, L4 23034 MiB, L40S 46068 MiB (~22.5 / 22.5 / 45 GiB)
    assert get_instance_type("ml.g5.xlarge").accelerator_memory_gib == pytest.approx(22.49, abs=0.01)
    assert get_instance_type("ml.g6.xlarge").accelerator_memory_gib == pytest.approx(22.49, abs=0.01)
    assert get_instance_type("ml.g6e.xlarge").accelerator_memory_gib == pytest.approx(44.99, abs=0.01)
    assert get_instance_type("ml.g5.xlarge").accelerator.memory_gib == 24  # nameplate kept


def _write(tmp_path, content) -> str:
    path = tmp_path / "prices.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_price_override_replaces_the_sagemaker_price_by_default_or_either_basis(tmp_path):
    mine = {"usd_per_hour": 1.5, "source": "my SageMaker quote", "as_of": "2026-11-01"}
    g5 = get_instance_type("ml.g5.xlarge", _write(tmp_path, {"ml.g5.xlarge": mine}))
    assert (g5.sagemaker_price.usd_per_hour, g5.sagemaker_price.source) == (1.5, "my SageMaker quote")
    assert g5.ec2_price == get_instance_type("ml.g5.xlarge").ec2_price
    ec2 = get_instance_type("ml.g5.xlarge", _write(tmp_path, {"ml.g5.xlarge": mine | {"basis": "ec2"}}))
    assert ec2.ec2_price.usd_per_hour == 1.5 and ec2.sagemaker_price.usd_per_hour == 1.4084
    both = {"ml.p5.48xlarge": {"sagemaker": mine | {"usd_per_hour": 70}, "ec2": mine | {"usd_per_hour": 50}}}
    p5 = get_instance_type("ml.p5.48xlarge", _write(tmp_path, both))
    assert (p5.price("sagemaker").usd_per_hour, p5.price("ec2").usd_per_hour) == (70, 50)
    assert not p5.sagemaker_price.estimated
    assert get_instance_type("ml.g5.2xlarge", _write(tmp_path, both)) == get_instance_type("ml.g5.2xlarge")


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "cannot read prices file"),
        ('{"ml.nope.xlarge": {}}', "unknown instance types: ml.nope.xlarge"),
        ('{"ml.g5.xlarge": {"usd_per_hour": 1}}', "needs usd_per_hour, source and as_of"),
        ('{"ml.g5.xlarge": {"usd_per_hour": -1, "source": "x", "as_of": "2026-01-01"}}', "positive number"),
        ('{"ml.g5.xlarge": {"usd_per_hour": 0, "source": "x", "as_of": "2026-01-01"}}', "positive number"),
        ('{"ml.g5.xlarge": {"usd_per_hour": "NaN", "source": "x", "as_of": "2026-01-01"}}', "positive"),
        ('{"ml.g5.xlarge": {"usd_per_hour": 1, "source": "x", "as_of": "last week"}}', "YYYY-MM-DD"),
        ('{"ml.g5.xlarge": {"usd_per_hour": 1, "source": "x", "as_of": "2026-01-01", "basis": "spot"}}',
         "basis must be"),
        ('["ml.g5.xlarge"]', "must map instance names"),
    ],
)  # fmt: skip
def test_bad_price_files_are_configuration_errors(tmp_path, content, message):
    with pytest.raises(ConfigurationError, match=message):
        instance_types(_write(tmp_path, content))


def test_unknown_instance_lists_valid_names():
    with pytest.raises(NotFoundError) as err:
        get_instance_type("ml.g4dn.xlarge")
    assert "ml.trn2.48xlarge" in str(err.value)
