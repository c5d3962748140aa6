"""The three stacks together: references only downward, the apps' reach, cdk-nag, settings, cost."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from cdk.app import STACK_NAMES
from cdk.costs import endpoint_costs
from cdk.nag import acknowledge, add_checks
from cdk.settings import default_context, from_context
from infrastructure.catalog import get_instance_type
from strata.errors import ConfigurationError

pytestmark = pytest.mark.cdk


def _imports(node) -> list[str]:
    """Every export name a template imports (Fn::ImportValue), wherever it appears."""
    found = []
    if isinstance(node, dict):
        if "Fn::ImportValue" in node:
            found.append(json.dumps(node["Fn::ImportValue"]))
        for v in node.values():
            found += _imports(v)
    elif isinstance(node, list):
        for v in node:
            found += _imports(v)
    return found


@pytest.mark.parametrize("synth_name", ["default_synth", "full_synth"])
def test_references_flow_only_downward(synth_name, request):
    synth = request.getfixturevalue(synth_name)
    exporter = {}
    for name in STACK_NAMES:
        for out in synth.templates[name].get("Outputs", {}).values():
            if "Export" in out:
                exporter[json.dumps(out["Export"]["Name"])] = name
    level = {name: i for i, name in enumerate(STACK_NAMES)}
    seen = set()
    for name in STACK_NAMES:
        for imported in _imports(synth.templates[name]):
            producer = exporter[imported]
            assert level[producer] < level[name], (
                f"{name} imports {imported} from {producer}, a stack above it"
            )
            seen.add((producer, name))
    # Each layer does use the one below it (so the test is not vacuous).
    assert {("StrataCompute", "StrataModelLayer"), ("StrataModelLayer", "StrataApplications")} <= seen
    for name, stack in synth.stacks.items():
        assert all(level[d.stack_name] < level[name] for d in stack.dependencies)


@pytest.mark.parametrize("synth_name", ["default_synth", "full_synth"])
def test_no_wildcard_actions_and_star_only_where_aws_requires_it(synth_name, request):
    synth = request.getfixturevalue(synth_name)
    for name in STACK_NAMES:
        for logical, res in synth.templates[name]["Resources"].items():
            if res["Type"] == "AWS::IAM::Role":
                assert "ManagedPolicyArns" not in res["Properties"], logical
            if res["Type"] != "AWS::IAM::Policy":
                continue
            for st in res["Properties"]["PolicyDocument"]["Statement"]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                assert not [a for a in actions if "*" in a], (name, logical, actions)
                if st["Resource"] == "*":  # only the ECR login, which takes no resource-level scope
                    assert actions == ["ecr:GetAuthorizationToken"], (name, logical, actions)


def test_knowledge_base_needs_its_embedding_model():
    ctx = default_context()
    bad = ctx | {"strata:gateway": ctx["strata:gateway"] | {"knowledge_base": True}}
    with pytest.raises(ConfigurationError, match="embedding_model_arn"):
        from_context(bad.get)


def test_applications_reach_the_gateway_only_by_url_and_key(full_synth):
    stack = "StrataApplications"
    tasks = full_synth.resources(stack, "AWS::ECS::TaskDefinition")
    assert len(tasks) == len(full_synth.settings.applications) == 2
    for app in full_synth.settings.applications:
        (task,) = [t for k, t in tasks.items() if k.startswith(f"{app.name}Task")]
        (container,) = task["Properties"]["ContainerDefinitions"]
        assert container["EntryPoint"] + container["Command"] == list(app.command)
        env = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert set(env) == {app.url_env}  # STRATA_SHOP_URL: what the shopping CLI reads
        assert "Fn::ImportValue" in json.dumps(env[app.url_env])  # the ALB's DNS name, from below
        assert [s["Name"] for s in container["Secrets"]] == [app.key_env]
    # No task role gets any permission: no policy names a task role (only the execution roles pull/read).
    for policy in full_synth.resources(stack, "AWS::IAM::Policy").values():
        assert all("ExecutionRole" in r["Ref"] for r in policy["Properties"]["Roles"])
    services = full_synth.resources(stack, "AWS::ECS::Service")
    assert sorted(s["Properties"]["DesiredCount"] for s in services.values()) == [0, 1]


def test_nag_fails_synth_on_an_unacknowledged_finding(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bad")
    s3.Bucket(stack, "Open")  # no access logs, no TLS-only policy
    add_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = (tmp_path / "validation-report.json").read_text()
    assert "AwsSolutions-S10" in report


def test_acknowledgements_need_a_concrete_reason():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ValueError, match="concrete reason"):
        acknowledge(stack, "AwsSolutions-IAM5", "needed")


def test_settings_name_the_wrong_key():
    ctx = default_context()
    bad = ctx | {"strata:gateway": ctx["strata:gateway"] | {"cpus": 2}}
    with pytest.raises(ConfigurationError, match=r"strata:gateway: unknown key\(s\) cpus"):
        from_context(bad.get)
    no_command = [ctx["strata:applications"][0] | {"command": []}]
    with pytest.raises(ConfigurationError, match=r"strata:applications\[0\]: command must not be empty"):
        from_context((ctx | {"strata:applications": no_command}).get)
    twice = ctx | {"strata:endpoints": ctx["strata:endpoints"] * 2}
    with pytest.raises(ConfigurationError, match="unique"):
        from_context(twice.get)
    with pytest.raises(ConfigurationError, match="does not fit"):
        endpoint = ctx["strata:endpoints"][0] | {"model": "llama-3.1-70b", "instance": "ml.g5.xlarge"}
        from_context((ctx | {"strata:endpoints": [endpoint]}).get).specs()


def test_default_hourly_cost_comes_from_the_catalog():
    (cost,) = endpoint_costs(from_context(default_context().get))
    price = get_instance_type("ml.inf2.xlarge").sagemaker_price.usd_per_hour
    assert (cost.instance_type, cost.instances, cost.usd_per_hour) == ("ml.inf2.xlarge", 1, price)
