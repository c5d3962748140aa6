"""Real PostgreSQL and Redis on loopback with TLS on, as Aurora (``rds.force_ssl``) and ElastiCache
(transit encryption + AUTH) are in the deployed model layer, for the boot-line test.

A throwaway CA signs one certificate for 127.0.0.1; the gateway trusts it through
``SSL_CERT_FILE``. PostgreSQL refuses non-TLS connections (``hostssl`` only); Redis listens only
on its TLS port and requires the AUTH token. Skips with the reason when a server binary is missing.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.model_layer.state.pg_server import _as_server_user, _bindir

LOOPBACK_SAN = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


def make_pki(where: Path) -> Pki:
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "strata test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(LOOPBACK_SAN, False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(where / "ca.pem", where / "server.pem", where / "server.key")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pki.key.chmod(0o600)
    return pki


def _wait(check, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start")
            time.sleep(0.05)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def tls_postgres(pki: Pki) -> Iterator[int]:
    """A PostgreSQL that accepts only TLS connections (user ``strata``, trust auth); yields its port."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install -y postgresql)")
    workdir = Path(tempfile.mkdtemp(prefix="strata-pg-tls-"))
    data = workdir / "data"
    for f in (pki.cert, pki.key):
        shutil.copy(f, workdir / f.name)
    if os.geteuid() == 0:
        for p in (workdir, workdir / pki.cert.name, workdir / pki.key.name):
            shutil.chown(p, "postgres", "postgres")
    subprocess.run(
        _as_server_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "strata"]),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # TLS or nothing, as rds.force_ssl=1 makes Aurora behave.
    hba = data / "pg_hba.conf"
    hba.write_text("hostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n")
    port = free_port()
    server = subprocess.Popen(
        _as_server_user(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={workdir}",
                "-c",
                "ssl=on",
                "-c",
                f"ssl_cert_file={workdir / pki.cert.name}",
                "-c",
                f"ssl_key_file={workdir / pki.key.name}",
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def ready() -> None:
        import psycopg

        psycopg.connect(
            f"postgresql://strata@127.0.0.1:{port}/postgres?sslmode=require", connect_timeout=2
        ).close()

    try:
        _wait(ready, server, "PostgreSQL")
        yield port
    finally:
        _stop(server)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def tls_redis(pki: Pki, password: str) -> Iterator[int]:
    """A Redis listening only on a TLS port, requiring AUTH; yields the port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed (apt-get install -y redis-server)")
    port = free_port()
    server = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            str(pki.cert),
            "--tls-key-file",
            str(pki.key),
            "--tls-ca-cert-file",
            str(pki.ca),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            password,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def ready() -> None:
        import redis

        redis.Redis(host="127.0.0.1", port=port, password=password, ssl=True, ssl_ca_certs=str(pki.ca)).ping()

    try:
        _wait(ready, server, "Redis")
        yield port
    finally:
        _stop(server)
