"""``strata provision`` / ``strata deprovision`` end to end: in-process on moto and as a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request

import pytest

from infrastructure.provisioner.offline import moto_sagemaker_extended
from infrastructure.provisioner.state import read_state
from strata.cli import main

ROLE = "arn:aws:iam::123456789012:role/strata-sagemaker"
BASE = ["--name", "demo", "--model", "smollm2-135m", "--instance", "ml.inf2.xlarge", "--poll-interval", "0"]


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich would otherwise fold names in its tables


def test_dry_run_prints_the_plan_and_changes_nothing(aws, capsys):
    assert main(["provision", *BASE, "--role-arn", ROLE, "--dry-run"]) == 0
    out = capsys.readouterr().out
    for kind in ("model", "endpoint-config", "endpoint", "scalable-target", "scaling-policy"):
        assert re.search(rf"create\s+│\s+{kind}\s", out), kind
    assert "huggingface-pytorch-tgi-inference" in out
    assert "dry run: nothing was changed (5 change(s) planned)" in out
    assert read_state(aws, "demo").empty


def test_provision_then_rerun_then_deprovision_twice(aws, capsys, monkeypatch):
    monkeypatch.setenv("STRATA_SAGEMAKER_ROLE_ARN", ROLE)
    assert main(["provision", *BASE, "--max-capacity", "3"]) == 0
    captured = capsys.readouterr()
    assert "demo: InService" in captured.out
    assert "create endpoint demo" in captured.err  # progress lines go to stderr
    assert read_state(aws, "demo").scaling.max_capacity == 3
    assert main(["provision", *BASE, "--max-capacity", "3"]) == 0
    assert "demo: nothing to provision, already as desired" in capsys.readouterr().out
    assert main(["deprovision", "--name", "demo", "--poll-interval", "0"]) == 0
    assert "demo: deprovisioned" in capsys.readouterr().out
    assert read_state(aws, "demo").empty
    assert main(["deprovision", "--name", "demo"]) == 0
    assert "demo: nothing to deprovision in us-east-1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--instance", "ml.x1.huge"], "unknown instance type 'ml.x1.huge'"),
        (["--model", "gpt-99"], "unknown model preset 'gpt-99'"),
        (["--model", "llama-3.1-70b"], "llama-3.1-70b does not fit ml.inf2.xlarge"),
        (["--model", "acme/model"], "is not a planner preset"),
        (["--min-capacity", "5", "--max-capacity", "2"], "invalid capacity 5..2"),
        (["--env", "NOEQUALS"], "--env expects KEY=VALUE"),
        (["--server", "vllm"], "unknown server 'vllm'"),
        (["--name", "bad_name"], "invalid endpoint name 'bad_name'"),
        (["--region", "af-south-1"], "not published in region 'af-south-1'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(aws, capsys, args, message):
    assert main(["provision", *BASE, "--role-arn", ROLE, *args]) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("error:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert read_state(aws, "demo").empty


def test_missing_role_is_a_clear_error(aws, capsys, monkeypatch):
    monkeypatch.delenv("STRATA_SAGEMAKER_ROLE_ARN", raising=False)
    assert main(["provision", *BASE]) == 1
    assert "no SageMaker execution role given (pass --role-arn or set STRATA_SAGEMAKER_ROLE_ARN)" in (
        capsys.readouterr().err
    )


def test_no_credentials(capsys, monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata probing
    assert main(["deprovision", "--name", "demo"]) == 1
    err = capsys.readouterr().err
    assert "error: no AWS credentials found" in err and "Traceback" not in err


def test_unreachable_aws(capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main(["provision", *BASE, "--role-arn", ROLE]) == 1
    err = capsys.readouterr().err
    assert "error: cannot reach AWS in region us-east-1" in err and "Traceback" not in err


@pytest.fixture
def moto_server():
    from moto.server import ThreadedMotoServer

    with moto_sagemaker_extended():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        try:
            yield url
        finally:
            urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
            server.stop()


def _strata(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"AWS_ENDPOINT_URL": url, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "strata.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_subprocess_against_moto_server(moto_server):
    up = _strata(moto_server, "provision", *BASE, "--role-arn", ROLE, "--region", "us-east-1")
    assert up.returncode == 0, up.stderr
    assert "demo: InService" in up.stdout
    again = _strata(moto_server, "provision", *BASE, "--role-arn", ROLE, "--region", "us-east-1")
    assert "nothing to provision" in again.stdout
    roll = _strata(moto_server, "provision", *BASE, "--role-arn", ROLE, "--min-capacity", "2")
    assert roll.returncode == 0 and "update" in roll.stdout and "superseded" in roll.stdout
    down = _strata(moto_server, "deprovision", "--name", "demo", "--poll-interval", "0")
    assert down.returncode == 0 and "demo: deprovisioned" in down.stdout
    bad = _strata(moto_server, "provision", *BASE, "--instance", "ml.nope")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
