"""The deployed gateway's start, for real: the container's boot line runs ``strata serve`` on the
generated strata.toml against PostgreSQL and Redis that, like Aurora and ElastiCache in the stack,
accept only TLS (and Redis only with its AUTH token).

The gateway migrates the database over TLS, answers /health, issues keys through the admin API
with the token from its environment (sealing the SigV4 secret with the Fernet key the boot line
made from the generated seed), lists the deployment's models, and meters a real embedding call
(MiniLM) through Redis-backed rate limits.
"""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from cdk.gateway_config import EMBEDDING_MODEL_ID, RoutedEndpoint, boot_command, render_strata_toml
from tests.cdk.tls_servers import free_port, make_pki, tls_postgres, tls_redis

pytestmark = pytest.mark.cdk
ALNUM = string.ascii_letters + string.digits
ADMIN = "admin-" + secrets.token_hex(16)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the gateway did not become healthy: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def _env(tmp_path: Path, pki, pg_port: int, redis_port: int, redis_auth: str) -> dict[str, str]:
    toml = render_strata_toml([RoutedEndpoint("meta.chat-endpoint-v1:0", "strata-chat")], region="us-east-1")
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "STRATA_HOME": str(home),
        "SSL_CERT_FILE": str(pki.ca),
        "STRATA_TOML": toml,
        "STRATA_KEYSTORE_SEED": "".join(secrets.choice(ALNUM) for _ in range(43)),
        "STRATA_ADMIN_TOKEN": ADMIN,
        "DB_USER": "strata",
        "DB_PASSWORD": "pw",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(pg_port),
        "DB_NAME": "postgres",
        "REDIS_AUTH": redis_auth,
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis_port),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def test_boot_line_starts_the_gateway_on_tls_postgres_and_redis(tmp_path):
    pki = make_pki(tmp_path)
    redis_auth = "".join(secrets.choice(ALNUM) for _ in range(32))
    with tls_postgres(pki) as pg_port, tls_redis(pki, redis_auth) as redis_port:
        port, log = free_port(), tmp_path / "gateway.log"
        with log.open("w") as out:  # a file, not a pipe nobody drains
            proc = subprocess.Popen(
                boot_command(port),
                env=_env(tmp_path, pki, pg_port, redis_port, redis_auth),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, log)
            admin = {"Authorization": f"Bearer {ADMIN}"}
            issued = httpx.post(
                f"{url}/strata/v1/admin/tenants/shopping/keys", json={}, headers=admin, timeout=30
            )
            assert issued.status_code == 201, issued.text
            key = issued.json()["apiKey"]
            auth = {"Authorization": f"Bearer {key}"}
            models = httpx.get(f"{url}/v1/models", headers=auth, timeout=30).json()
            assert {"meta.chat-endpoint-v1:0", EMBEDDING_MODEL_ID} <= {m["id"] for m in models["data"]}
            emb = httpx.post(
                f"{url}/v1/embeddings",
                json={"model": EMBEDDING_MODEL_ID, "input": "hello"},
                headers=auth,
                timeout=60,
            )
            assert emb.status_code == 200, emb.text
            assert len(emb.json()["data"][0]["embedding"]) == 384
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        tls = f"postgresql://strata@127.0.0.1:{pg_port}/postgres?sslmode=require"
        with psycopg.connect(tls) as conn:
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] >= 1
        client = redis.Redis(
            host="127.0.0.1", port=redis_port, password=redis_auth, ssl=True, ssl_ca_certs=str(pki.ca)
        )
        assert client.dbsize() > 0  # the rate-limit buckets the call charged live in Redis
