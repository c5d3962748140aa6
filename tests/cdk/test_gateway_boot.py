"""The gateway container's boot line, run by a real ``sh`` with a stand-in ``strata`` on PATH.

The stand-in prints the environment ``strata serve`` would start with, so the test sees the URLs
and key the line assembles from ECS's injected secret fields, the strata.toml it wrote, and that
the raw secret fields are gone. The assembled key is then used by the gateway's own Sealer.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import sys
import tomllib

from cdk.gateway_config import RoutedEndpoint, boot_command, render_strata_toml
from model_layer.auth.sealing import Sealer
from model_layer.config import parse_config

ALNUM = string.ascii_letters + string.digits


def _fake_strata(bin_dir) -> None:
    script = bin_dir / "strata"
    body = "import json, os, sys\nprint(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}))\n"
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)


def test_boot_line_assembles_urls_key_and_config(tmp_path):
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    home.mkdir()
    _fake_strata(bin_dir)
    toml = render_strata_toml([RoutedEndpoint("meta.chat-endpoint-v1:0", "chat")], region="us-east-1")
    seed = "".join(secrets.choice(ALNUM) for _ in range(43))  # what Secrets Manager generates
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STRATA_HOME": str(home),
        "STRATA_TOML": toml,
        "STRATA_KEYSTORE_SEED": seed,
        "DB_USER": "strata",
        "DB_PASSWORD": "pw0",
        "DB_HOST": "db.internal",
        "DB_PORT": "5432",
        "DB_NAME": "strata",
        "REDIS_AUTH": "tok",
        "REDIS_HOST": "cache.internal",
        "REDIS_PORT": "6379",
    }
    out = subprocess.run(boot_command(), env=env, capture_output=True, text=True, timeout=30, check=True)
    started = json.loads(out.stdout)
    assert started["argv"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    got = started["env"]
    assert got["STRATA_STATE_URL"] == "postgresql://strata:pw0@db.internal:5432/strata?sslmode=require"
    assert got["STRATA_REDIS_URL"] == "rediss://:tok@cache.internal:6379/0"
    assert not {"STRATA_TOML", "STRATA_KEYSTORE_SEED", "DB_PASSWORD", "REDIS_AUTH"} & set(got)
    written = home / "strata.toml"
    assert got["STRATA_CONFIG_FILE"] == str(written)
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    config = parse_config(tomllib.loads(written.read_text()))
    assert [m.upstream for m in config.models if m.id == "meta.chat-endpoint-v1:0"] == ["chat"]
    sealer = Sealer(got["STRATA_KEYSTORE_KEY"])  # a valid Fernet key made from the generated seed
    assert sealer.unseal(sealer.seal("secret")) == "secret"
