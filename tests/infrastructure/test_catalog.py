"""The instance catalog: real SageMaker names, honest prices, consistent specs, price overrides."""

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
    assert inst.price.usd_per_hour > 0
    assert "us-east-1" in inst.price.source
    assert len(inst.price.as_of) == 10 and inst.price.as_of[4] == "-"
    units = inst.neuron_cores if inst.family != "nvidia" else inst.accelerator_count
    assert max(inst.tp_degrees) <= units, "a TP degree cannot exceed the devices it spans"
    assert (inst.neuron_cores > 0) == (inst.family in ("trainium", "inferentia"))


def test_known_spec_sheet_figures():
    trn2 = get_instance_type("ml.trn2.48xlarge")
    assert trn2.accelerator_memory_gib == 16 * 96  # 1.5 TiB HBM
    assert trn2.memory_bandwidth_gbps == pytest.approx(46_400)  # 16 x 2.9 TB/s
    assert trn2.neuron_cores == 64  # logical NeuronCores at LNC=2 (128 physical)
    inf2 = get_instance_type("ml.inf2.48xlarge")
    assert (inf2.accelerator_memory_gib, inf2.neuron_cores) == (384, 24)
    p5 = get_instance_type("ml.p5.48xlarge")
    assert (p5.accelerator_memory_gib, p5.memory_bandwidth_gbps) == (640, 8 * 3350)


def test_price_override_file_replaces_price_and_provenance(tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {"ml.g5.xlarge": {"usd_per_hour": 1.408, "source": "SageMaker hosting", "as_of": "2026-11-01"}}
        )
    )
    g5 = get_instance_type("ml.g5.xlarge", prices)
    assert (g5.price.usd_per_hour, g5.price.source, g5.price.as_of) == (
        1.408,
        "SageMaker hosting",
        "2026-11-01",
    )
    assert get_instance_type("ml.p5.48xlarge", prices) == get_instance_type("ml.p5.48xlarge")


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "cannot read prices file"),
        ('{"ml.nope.xlarge": {}}', "unknown instance types: ml.nope.xlarge"),
        ('{"ml.g5.xlarge": {"usd_per_hour": 1}}', "needs usd_per_hour, source and as_of"),
    ],
)
def test_bad_price_files_are_configuration_errors(tmp_path, content, message):
    prices = tmp_path / "prices.json"
    prices.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        instance_types(prices)


def test_unknown_instance_lists_valid_names():
    with pytest.raises(NotFoundError) as err:
        get_instance_type("ml.g4dn.xlarge")
    assert "ml.trn2.48xlarge" in str(err.value)
