"""``strata tenants list|show|set`` and ``strata keys create --expires-in|rotate`` as a user runs them.

Most cases run the installed console script (``.venv/bin/strata``) in a subprocess on the test's
``STRATA_HOME``; the many malformed-option cases go through ``strata.cli.main`` in-process (the
same code, without a second of interpreter start-up each), checking the one-line error contract.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from strata.cli import main
from tests.model_layer.tenancy.tenancy_harness import CHAT_MODEL, PRICED_MODEL, build, runtime, user, wait_for

STRATA = Path(sys.executable).with_name("strata")


def strata(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([STRATA, *args], env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def one_line_error(args: list[str], capsys) -> str:
    """Run in-process; it must fail with exit 1 and a single ``error: …`` line."""
    capsys.readouterr()
    assert main(args) != 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


# --- tenants ---------------------------------------------------------------------------------------


def test_set_show_list_and_unset_through_the_binary():
    done = strata(
        "tenants",
        "set",
        "acme",
        "--rpm", "10", "--tpm", "1000",
        "--models", f"{CHAT_MODEL}, {PRICED_MODEL}",
        "--daily-budget", "1.5", "--monthly-budget", "20",
        "--model-limit", f"{PRICED_MODEL}=5/-",
        "--model-limit", f"{CHAT_MODEL}=-/300",
    )  # fmt: skip
    out = done.stdout
    assert "tenant           acme" in out and "10 req/min, 1000 tok/min" in out
    assert f"models           {CHAT_MODEL}, {PRICED_MODEL}" in out
    assert "budgets          daily $1.50, monthly $20.00" in out
    assert f"model limit      {PRICED_MODEL}: 5 req/min, - tok/min" in out
    assert f"model limit      {CHAT_MODEL}: - req/min, 300 tok/min" in out

    shown = json.loads(strata("tenants", "show", "acme", "--json").stdout)
    assert shown["requests_per_minute"] == 10 and shown["allowed_models"] == [CHAT_MODEL, PRICED_MODEL]
    assert shown["model_limits"] == [
        {"model_id": CHAT_MODEL, "requests_per_minute": None, "tokens_per_minute": 300},
        {"model_id": PRICED_MODEL, "requests_per_minute": 5, "tokens_per_minute": None},
    ]
    assert strata("tenants", "show", "acme").stdout == out  # the same view

    strata("tenants", "set", "beta")
    table = strata("tenants", "list").stdout
    acme_row = next(line for line in table.splitlines() if line.strip().startswith("acme"))
    assert acme_row.split() == ["acme", "10/1000", "2", "$1.50", "$20.00", "2"]
    assert next(line for line in table.splitlines() if line.strip().startswith("beta")).split() == [
        "beta", "-/-", "all", "none", "none", "0",
    ]  # fmt: skip

    after = json.loads(
        strata(
            "tenants", "set", "acme", "--unset", "rpm", "--unset", "models", "--unset", "daily-budget",
            "--model-limit", f"{PRICED_MODEL}=-/-", "--json",
        ).stdout
    )  # fmt: skip
    assert after["requests_per_minute"] is None and after["allowed_models"] is None
    assert after["daily_budget_usd"] is None and after["monthly_budget_usd"] == 20.0
    assert after["tokens_per_minute"] == 1000  # not named: kept
    assert [m["model_id"] for m in after["model_limits"]] == [CHAT_MODEL]
    assert [t["tenant_id"] for t in json.loads(strata("tenants", "list", "--json").stdout)] == [
        "acme",
        "beta",
    ]


def test_errors_are_one_line_from_the_binary():
    missing = strata("tenants", "show", "nobody", ok=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: no tenant 'nobody' (see `strata tenants list`)"
    bad = strata("tenants", "set", "acme", "--model-limit", "nonsense", ok=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "invalid --model-limit 'nonsense'" in bad.stderr
    huge = strata("tenants", "set", "acme", "--rpm", "99999999999999999999999", ok=False)
    assert huge.returncode == 1 and "--rpm must be at most" in huge.stderr
    assert strata("tenants", "list").stdout.strip() == "no tenants"  # none of that wrote anything


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model-limit", "m=5"], "invalid --model-limit 'm=5'"),
        (["--model-limit", "m=x/5"], "limits are whole numbers or -"),
        (["--model-limit", "=5/5"], "invalid --model-limit '=5/5'"),
        (["--model-limit", "m=0/5"], "requests_per_minute for m must be at least 1, got 0"),
        (["--model-limit", "m=5/-3"], "tokens_per_minute for m must be at least 1, got -3"),
        (["--model-limit", "m=1/99999999999"], "must be at most 2147483647"),
        (["--model-limit", "m" * 300 + "=1/1"], "model id of 1-256 characters"),
        (["--unset", "bogus"], "cannot --unset 'bogus' (choose from rpm, tpm, models, daily-budget"),
        (["--rpm", "0"], "--rpm must be at least 1, got 0"),
        (["--tpm", "4294967296"], "--tpm must be at most 2147483647"),
        (["--daily-budget", "-1"], "--daily-budget must be a non-negative amount"),
        (["--monthly-budget", "nan"], "--monthly-budget must be a non-negative amount"),
        (["--rpm", "ten"], "Invalid value for '--rpm'"),
    ],
)
def test_bad_tenant_options_write_nothing(capsys, args, expected):
    line = one_line_error(["tenants", "set", "acme", "--tpm", "7", *args], capsys)
    assert expected in line
    assert main(["tenants", "show", "acme"]) == 1  # the tenant was not created half-way


def test_a_bad_model_limit_leaves_an_existing_tenant_as_it_was(capsys):
    assert main(["tenants", "set", "acme", "--rpm", "3"]) == 0
    one_line_error(["tenants", "set", "acme", "--rpm", "9", "--model-limit", "m=0/1"], capsys)
    capsys.readouterr()
    assert main(["tenants", "show", "acme", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requests_per_minute"] == 3


def test_an_empty_model_list_says_none_not_blank(capsys):
    """``--models ""`` allows no model at all; the view must not look like an unset field."""
    assert main(["tenants", "set", "acme", "--models", ""]) == 0
    assert "models           none" in capsys.readouterr().out
    assert main(["tenants", "set", "acme", "--unset", "models"]) == 0
    assert "models           all" in capsys.readouterr().out


def test_reads_create_nothing():
    home = Path(os.environ["STRATA_HOME"])
    assert strata("tenants", "list").stdout.strip() == "no tenants"
    assert strata("tenants", "show", "acme", ok=False).returncode == 1
    assert not home.exists() or list(home.iterdir()) == []


# --- keys: expiry and rotation -----------------------------------------------------------------------


def test_keys_expire_after_the_duration_given(capsys):
    created = json.loads(strata("keys", "create", "--tenant", "acme", "--expires-in", "90d", "--json").stdout)
    expires = datetime.fromisoformat(created["expiresAt"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=1)
    listed = json.loads(strata("keys", "list", "--json").stdout)
    assert len(listed) == 1 and listed[0]["expires_at"] == created["expiresAt"]
    for bad in ("90", "-1d", "1y", "soon"):
        line = one_line_error(["keys", "create", "--tenant", "acme", "--expires-in", bad], capsys)
        assert line == f"error: invalid --expires-in '{bad}' (use e.g. 30m, 24h, 90d or 2w)"
    assert one_line_error(["keys", "create", "--tenant", "fresh", "--expires-in", "0s"], capsys) == (
        "error: an expiry must be in the future"
    )
    assert main(["keys", "list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1  # no key was issued by the refusals
    assert main(["tenants", "show", "fresh"]) == 1  # nor a tenant created


def test_rotate_then_list_statuses():
    first = json.loads(strata("keys", "create", "--tenant", "acme", "--json").stdout)
    akid = first["accessKeyId"]
    rotated = strata("keys", "rotate", akid, "--grace", "24h").stdout
    assert "secret access key" in rotated and "not shown again" in rotated
    assert f"{akid} keeps working until " in rotated
    second = next(line.split()[-1] for line in rotated.splitlines() if line.startswith("access key id"))

    again = strata("keys", "rotate", akid, ok=False)
    assert again.returncode == 1 and f"{akid} was already rotated" in again.stderr

    third = json.loads(
        strata("keys", "rotate", second, "--grace", "0s", "--expires-in", "30d", "--json").stdout
    )
    assert third["tenantId"] == "acme" and third["expiresAt"] is not None
    revoked = json.loads(strata("keys", "create", "--tenant", "acme", "--json").stdout)["accessKeyId"]
    strata("keys", "revoke", revoked)

    statuses = {
        k["access_key_id"]: (k["status"], k["replaced_by"])
        for k in json.loads(strata("keys", "list", "--json").stdout)
    }
    assert statuses == {
        akid: ("active", second),  # in its 24h grace
        second: ("expired", third["accessKeyId"]),
        third["accessKeyId"]: ("active", None),
        revoked: ("revoked", None),
    }
    table = strata("keys", "list").stdout
    assert all(word in table for word in ("active", "expired", "revoked"))

    for key, message in ((revoked, "is revoked"), (second, "is expired"), ("AKIANOSUCHKEY0000000", "no key")):
        done = strata("keys", "rotate", key, ok=False)
        assert done.returncode == 1 and message in done.stderr, done.stderr
    bad_grace = strata("keys", "rotate", third["accessKeyId"], "--grace", "forever", ok=False)
    assert bad_grace.returncode == 1 and "invalid --grace 'forever'" in bad_grace.stderr


def test_a_cli_rotation_applies_to_a_running_gateway(live_server):
    """The CLI writes the shared state; the gateway sees it within its poll interval."""
    gw = build(Path(os.environ["STRATA_HOME"]))
    old = gw.issue("acme")
    with live_server(gw.app) as url:
        runtime(url, old).converse(modelId=CHAT_MODEL, messages=user("before"))
        new = json.loads(strata("keys", "rotate", old.access_key_id, "--grace", "0s", "--json").stdout)

        def old_refused() -> str | None:
            try:
                runtime(url, old).converse(modelId=CHAT_MODEL, messages=user("after"))
            except ClientError as exc:
                return exc.response["Error"]["Code"]
            return None

        assert wait_for(old_refused, what="the rotation to reach the gateway") == "ExpiredTokenException"

        class New:
            access_key_id, secret_access_key = new["accessKeyId"], new["secretAccessKey"]

        assert runtime(url, New).converse(modelId=CHAT_MODEL, messages=user("new key"))["output"]
    gw.keystore.close()


def test_usage_time_options():
    assert strata("usage", "--since", "1h", "--until", "2999-01-01", "--json").stdout.strip() == "[]"
    done = strata("usage", "--until", "tomorrow-ish", ok=False)
    assert done.returncode == 1 and "invalid --until 'tomorrow-ish'" in done.stderr
