"""Failures mid-provision roll back what the run created; waits report progress and time out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber

from infrastructure.provisioner import autoscaling
from infrastructure.provisioner.provisioner import Provisioner, ProvisionError, WaitTimeout
from infrastructure.provisioner.state import read_state


def _nothing_left(aws) -> None:
    sm = aws.sagemaker
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []


def test_scaling_target_failure_rolls_back_endpoint_config_and_model(provisioner, aws, make_spec):
    # moto has no way to make RegisterScalableTarget fail: stub the autoscaling client for this run.
    with Stubber(aws.autoscaling) as stub:
        for _ in ("variant", "inference component"):  # reading state looks for either target
            stub.add_response("describe_scalable_targets", {"ScalableTargets": []})
        stub.add_client_error(
            "register_scalable_target", "LimitExceededException", "too many scalable targets", 400
        )
        with pytest.raises(ProvisionError) as err:
            provisioner.provision(make_spec())
        stub.assert_no_pending_responses()
    message = str(err.value)
    assert "RegisterScalableTarget failed: LimitExceededException" in message
    assert "rolled back 3 step(s), nothing this run created is left" in message
    _nothing_left(aws)


def test_policy_failure_also_deregisters_the_new_target(provisioner, aws, make_spec):
    with Stubber(aws.autoscaling) as stub:
        for _ in ("variant", "inference component"):
            stub.add_response("describe_scalable_targets", {"ScalableTargets": []})
        stub.add_response("register_scalable_target", {})
        stub.add_client_error("put_scaling_policy", "ValidationException", "bad policy", 400)
        expected = {
            "ServiceNamespace": "sagemaker",
            "ResourceId": "endpoint/demo/variant/AllTraffic",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        }
        stub.add_response("deregister_scalable_target", {}, expected)  # the undo, in reverse order
        with pytest.raises(ProvisionError, match="rolled back 4 step"):
            provisioner.provision(make_spec())
        stub.assert_no_pending_responses()
    _nothing_left(aws)


def test_endpoint_that_fails_to_start_is_deleted(provisioner, aws, make_spec, moto_endpoint):
    def fail(**_):
        ep = moto_endpoint("demo")
        ep.endpoint_status, ep.failure_reason = "Failed", "ping health check did not pass"

    aws.sagemaker.meta.events.register("after-call.sagemaker.CreateEndpoint", fail)
    with pytest.raises(ProvisionError, match="endpoint demo is Failed: ping health check did not pass"):
        provisioner.provision(make_spec())
    _nothing_left(aws)


def test_failed_update_keeps_old_config_and_reattaches_scaling(provisioner, aws, make_spec, moto_endpoint):
    first = make_spec()
    provisioner.provision(first)

    def sagemaker_rolls_back(**_):  # what SageMaker does when the new variant never turns healthy
        ep = moto_endpoint("demo")
        ep.endpoint_config_name, ep.failure_reason = first.config_name, "new variant failed health checks"

    aws.sagemaker.meta.events.register("after-call.sagemaker.UpdateEndpoint", sagemaker_rolls_back)
    second = make_spec(context_tokens=8192)
    with pytest.raises(ProvisionError, match="new variant failed health checks") as err:
        provisioner.provision(second)
    assert "nothing this run created is left" in str(err.value)
    state = read_state(aws, "demo")
    assert state.endpoint.config_name == first.config_name
    assert state.configs == [first.config_name] and state.models == [first.model_name]
    assert autoscaling.matches(state.scaling, first.scaling)  # detached for the roll, re-attached


def _fail_policy_puts(aws, times: int) -> None:
    """Make the next ``times`` PutScalingPolicy calls fail before they reach moto."""
    left = [times]

    def refuse(**_):
        if left[0] > 0:
            left[0] -= 1
            raise RuntimeError("simulated outage")

    aws.autoscaling.meta.events.register("before-call.application-auto-scaling.PutScalingPolicy", refuse)


def test_scaling_failure_after_a_roll_rolls_the_endpoint_back(provisioner, aws, make_spec, calls):
    first = make_spec()
    provisioner.provision(first)
    before = read_state(aws, "demo")
    _fail_policy_puts(aws, times=1)
    calls.calls.clear()
    with pytest.raises(ProvisionError, match="simulated outage") as err:
        provisioner.provision(make_spec(instance="ml.inf2.8xlarge"))
    assert "nothing this run created is left" in str(err.value)
    assert calls.mutating.count("UpdateEndpoint") == 2  # rolled forward, then back
    after = read_state(aws, "demo")
    assert after.endpoint.config_name == first.config_name
    assert (after.configs, after.models) == (before.configs, before.models)
    assert autoscaling.matches(after.scaling, first.scaling)


def test_what_cannot_be_undone_is_reported_exactly(provisioner, aws, make_spec):
    provisioner.provision(make_spec())
    _fail_policy_puts(aws, times=2)  # the policy put fails, and so does restoring the old one
    with pytest.raises(ProvisionError) as err:
        provisioner.provision(make_spec(instance="ml.inf2.8xlarge"))
    message = str(err.value)
    assert "could not undo: scaling-policy demo-invocations-target" in message
    after = read_state(aws, "demo")
    assert after.scaling is not None and after.scaling.policy is None  # exactly what was reported


def test_timeout_keeps_resources_and_a_rerun_resumes(aws, make_spec, moto_endpoint, events):
    def still_creating(**_):
        moto_endpoint("demo").endpoint_status = "Creating"

    aws.sagemaker.meta.events.register("after-call.sagemaker.CreateEndpoint", still_creating)
    impatient = Provisioner(aws, poll_interval=0, timeout=0, on_event=events.append)
    with pytest.raises(WaitTimeout, match="waiting for endpoint demo") as err:
        impatient.provision(make_spec())
    assert "re-run" in str(err.value)
    state = read_state(aws, "demo")
    assert state.endpoint.status == "Creating" and state.models and state.configs
    assert state.scaling is None
    moto_endpoint("demo").endpoint_status = "InService"  # SageMaker finishes in the meantime
    result = Provisioner(aws, poll_interval=0, timeout=5).provision(make_spec())
    assert [(a.verb, a.kind) for a in result.actions if a.mutating] == [
        ("create", "scalable-target"),
        ("create", "scaling-policy"),
    ]


def _summary(status: str) -> dict:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return {
        "EndpointName": "demo",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/demo",
        "CreationTime": now,
        "LastModifiedTime": now,
        "EndpointStatus": status,
    }


def test_wait_polls_at_the_interval_and_reports_each_status(aws):
    statuses, sleeps, ticks = [], [], iter(range(100))
    p = Provisioner(
        aws,
        poll_interval=7,
        timeout=60,
        on_status=lambda name, status, waited: statuses.append((name, status, waited)),
        sleep=sleeps.append,
        clock=lambda: float(next(ticks)),
    )
    with Stubber(aws.sagemaker) as stub:
        for status in ("Creating", "Creating", "InService"):
            stub.add_response("list_endpoints", {"Endpoints": [_summary(status)]})
            stub.add_response(
                "describe_endpoint", _summary(status) | {"EndpointConfigName": "demo-c-0123456789"}
            )
        ep = p.wait_for_endpoint("demo")
    assert ep.status == "InService"
    assert sleeps == [7, 7]
    assert statuses == [("demo", "Creating", 1.0), ("demo", "Creating", 2.0), ("demo", "InService", 3.0)]


def test_wait_times_out_on_the_clock(aws):
    ticks = iter([0.0, 0.0, 30.0, 61.0])
    p = Provisioner(aws, poll_interval=1, timeout=60, sleep=lambda _s: None, clock=lambda: next(ticks))
    with Stubber(aws.sagemaker) as stub:
        for _ in range(3):
            stub.add_response("list_endpoints", {"Endpoints": [_summary("Updating")]})
            stub.add_response("describe_endpoint", _summary("Updating") | {"EndpointConfigName": "c"})
        with pytest.raises(WaitTimeout, match=r"timed out after 60 s .* \(status Updating\)"):
            p.wait_for_endpoint("demo")
