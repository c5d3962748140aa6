"""``strata provision`` / ``strata deprovision`` end to end: in-process on moto, and as the installed
command (against a moto server, and offline with ``--mock``), checked against ``strata plan``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

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


# -- the installed command, offline with --mock, against what `strata plan` says ----------------------

STRATA = Path(sys.executable).with_name("strata")


def _installed(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"STRATA_HOME": str(tmp_path / "home"), "COLUMNS": "250"}
    for var in ("AWS_ENDPOINT_URL", "STRATA_SAGEMAKER_ROLE_ARN"):
        env.pop(var, None)
    return subprocess.run([str(STRATA), *args], capture_output=True, text=True, env=env, timeout=120)


def _deployment(stdout: str) -> tuple[str, int, int, dict[str, str]]:
    found = re.search(r"^deployment: (\S+): tensor-parallel degree (\d+) x (\d+) cop", stdout, re.M)
    assert found, stdout
    env_line = re.search(r"^environment: (.*)$", stdout, re.M)
    env = dict(pair.split("=", 1) for pair in env_line.group(1).split())
    return found.group(1), int(found.group(2)), int(found.group(3)), env


@pytest.mark.parametrize("instance", [None, "ml.inf2.24xlarge", "ml.trn2.48xlarge"])
def test_provision_dry_run_creates_the_row_plan_recommends(tmp_path, instance):
    where = ["--instance", instance] if instance else []
    plan = _installed(tmp_path, "plan", "-m", "llama-3.1-8b", "--json", *where)
    assert plan.returncode == 0, plan.stderr
    row = json.loads(plan.stdout)["recommended"]
    args = ["provision", "--mock", "--dry-run", "--name", "agree", "--model", "llama-3.1-8b", *where]
    dry = _installed(tmp_path, *args)
    assert dry.returncode == 0, dry.stderr
    name, tp, copies, env = _deployment(dry.stdout)
    assert (name, tp, copies) == (row["instance"], row["tp_degree"], row["copies"])
    cores = env.get("HF_NUM_CORES") or env.get("SM_NUM_GPUS")
    batch = env.get("MAX_BATCH_SIZE") or env.get("MAX_CONCURRENT_REQUESTS")
    assert (int(cores), int(batch), env["MAX_TOTAL_TOKENS"]) == (tp, -(-16 // copies), "8192")
    assert ("inference-component" in dry.stdout) == (copies > 1)
    assert "mock: ran against moto's in-process AWS" in dry.stdout


def test_mock_provision_and_deprovision_need_no_aws_account(tmp_path):
    up = _installed(tmp_path, "provision", "--mock", "--name", "walk", "--model", "smollm2-135m",
                    "--instance", "ml.inf2.xlarge", "--poll-interval", "0", "--quiet")  # fmt: skip
    assert up.returncode == 0, up.stderr
    assert "walk: InService" in up.stdout and "nothing was created in any AWS account" in up.stdout
    down = _installed(tmp_path, "deprovision", "--mock", "--name", "walk")
    assert down.returncode == 0 and "walk: nothing to deprovision in us-east-1" in down.stdout
    bad = _installed(tmp_path, "provision", "--mock", "--name", "walk", "--model", "gpt-99")
    assert (
        bad.returncode == 1
        and bad.stderr.startswith("error: unknown model preset")
        and "Traceback" not in bad.stderr
    )
