"""``strata keys create|list|revoke`` through the root CLI, and once through the real binary."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from model_layer.auth.keystore import KeyStore
from model_layer.settings import GatewaySettings
from strata.cli import main


def run_json(capsys, *argv: str):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_create_list_revoke(capsys):
    created = run_json(
        capsys, "keys", "create", "--tenant", "acme", "--rpm", "30", "--tpm", "10000", "--json"
    )
    assert created["tenantId"] == "acme" and created["accessKeyId"].startswith("AKIA")
    assert (created["requestsPerMinute"], created["tokensPerMinute"]) == (30, 10000)
    run_json(capsys, "keys", "create", "--tenant", "beta", "--json")

    store = KeyStore.open(GatewaySettings())  # the same STRATA_HOME the CLI used
    try:
        assert store.secret_for(created["accessKeyId"]) == ("acme", created["secretAccessKey"])
        assert store.find_api_key(created["apiKey"]) == ("acme", created["accessKeyId"])
    finally:
        store.close()

    listed = run_json(capsys, "keys", "list", "--json")
    assert [(k["tenant_id"], k["status"]) for k in listed] == [("acme", "active"), ("beta", "active")]
    assert created["secretAccessKey"] not in json.dumps(listed) and created["apiKey"] not in json.dumps(
        listed
    )
    assert [k["tenant_id"] for k in run_json(capsys, "keys", "list", "--tenant", "beta", "--json")] == [
        "beta"
    ]

    assert main(["keys", "revoke", created["accessKeyId"]]) == 0
    assert f"revoked {created['accessKeyId']} (tenant acme)" in capsys.readouterr().out
    statuses = {k["access_key_id"]: k["status"] for k in run_json(capsys, "keys", "list", "--json")}
    assert statuses[created["accessKeyId"]] == "revoked"

    assert main(["keys", "list"]) == 0
    table = capsys.readouterr().out
    assert created["accessKeyId"] in table and "revoked" in table  # whole ids, even when piped


def test_human_create_output_shows_secrets_once(capsys):
    assert main(["keys", "create", "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "secret access key" in out and "sk-strata-" in out and "not shown again" in out


def test_bad_input_is_one_line_and_exit_1(capsys):
    assert main(["keys", "revoke", "AKIADOESNOTEXIST0000"]) == 1
    assert "error: no key 'AKIADOESNOTEXIST0000' (see `strata keys list`)" in capsys.readouterr().err
    assert main(["keys", "create", "--tenant", "no spaces"]) == 1
    assert "error: invalid tenant id 'no spaces'" in capsys.readouterr().err
    assert main(["keys", "create", "--tenant", "acme", "--rpm", "0"]) == 1
    assert "--rpm must be at least 1" in capsys.readouterr().err


def test_binary_create_then_revoke_unknown_has_no_traceback():
    strata = Path(sys.executable).with_name("strata")
    env = dict(os.environ)
    created = subprocess.run([strata, "keys", "create", "--tenant", "acme", "--json"], env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(created.stdout)["tenantId"] == "acme"
    bad = subprocess.run([strata, "keys", "revoke", "nope"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "error: no key 'nope'" in bad.stderr


def test_create_tightens_an_open_home_and_list_creates_nothing(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # as an older strata (or a plain mkdir) left it
    monkeypatch.setenv("STRATA_HOME", str(home))
    assert run_json(capsys, "keys", "list", "--json") == []
    assert list(home.iterdir()) == [] and stat.S_IMODE(home.stat().st_mode) == 0o755  # a read changes nothing
    run_json(capsys, "keys", "create", "--tenant", "acme", "--json")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in home.iterdir()} == {
        "strata.db": 0o600,
        "strata.db.migrate-lock": 0o600,
        "keystore.key": 0o600,
    }
