"""Gateway replicas as real ``strata serve`` subprocesses on shared state, and real clients for them.

A :class:`Replica` is one ``strata serve`` process with its own ``STRATA_HOME``; replicas share
only what the environment names (``STRATA_STATE_URL``, ``STRATA_REDIS_URL``) and the key-store
sealing key. Clients are the unmodified SDKs: boto3 (SigV4) and openai (API key), one attempt per
call, so a count of calls is a count of requests. :class:`PostgresServer` is a PostgreSQL server
these tests can stop and start again on the same data directory and port.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import openai
import pytest
from botocore.config import Config

from tests.model_layer.state.pg_server import _as_server_user, _bindir, _wait_ready

STRATA = str(Path(sys.executable).parent / "strata")
MODEL = "fake.echo-v1:0"
ADMIN_TOKEN = "replica-test-admin-token"
FAKE_TOML = f"""
[[providers]]
name = "fake"
type = "fake"

[[models]]
id = "{MODEL}"
provider = "fake"

[retry]
max_attempts = 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout_s: float, what: str, step_s: float = 0.02) -> float:
    """Poll ``predicate`` until true (bounded); return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(step_s)  # poll interval, bounded by the deadline
    return time.monotonic() - start


class Replica:
    """One ``strata serve`` process; its output is collected by a thread (for failure messages)."""

    def __init__(self, name: str, home: Path, config: Path, env: dict[str, str], port: int | None = None):
        self.name, self.home, self.config = name, home, config
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "STRATA_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._banner: queue.Queue[bool] = queue.Queue()

    def start(self) -> Replica:
        """Start the process (waiting for it to be ready is :meth:`wait_ready`)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._banner = queue.Queue()
        args = [STRATA, "serve", "--port", str(self.port), "--config", str(self.config)]
        self.proc = subprocess.Popen(
            args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        return self

    def _pump(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C to stop"):
                self._banner.put(True)
        self._banner.put(False)  # the process exited

    def wait_ready(self, timeout_s: float = 60) -> Replica:
        try:
            started = self._banner.get(timeout=timeout_s)
        except queue.Empty:
            started = False
        if not started:
            pytest.fail(f"replica {self.name} did not start:\n" + self.output())
        wait_until(self._healthy, 30, f"replica {self.name} /health")
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(self.lines[-60:])


def replica_env(state_url: str | None, redis_url: str | None, keystore_key: str, poll_s: float) -> dict:
    env = {
        "STRATA_KEYSTORE_KEY": keystore_key,
        "STRATA_ADMIN_TOKEN": ADMIN_TOKEN,
        "STRATA_STATE_POLL_INTERVAL_S": str(poll_s),
    }
    if state_url:
        env["STRATA_STATE_URL"] = state_url
    if redis_url:
        env["STRATA_REDIS_URL"] = redis_url
    return env


def start_all(replicas: list[Replica]) -> list[Replica]:
    """Start replicas side by side (they migrate the same database at once), then wait for each."""
    for r in replicas:
        r.start()
    for r in replicas:
        r.wait_ready()
    return replicas


# --- the admin API ---------------------------------------------------------------------------------


class Admin:
    """The admin API of one replica (``Authorization: Bearer <STRATA_ADMIN_TOKEN>``)."""

    def __init__(self, replica: Replica):
        self.http = httpx.Client(
            base_url=replica.url + "/strata/v1/admin",
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )

    def _ok(self, response: httpx.Response) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()

    def create_keys(self, tenant_id: str) -> Keys:
        body = self._ok(self.http.post(f"/tenants/{tenant_id}/keys", json={}))
        return Keys(body["tenantId"], body["accessKeyId"], body["secretAccessKey"], body["apiKey"])

    def revoke(self, access_key_id: str) -> dict:
        return self._ok(self.http.post(f"/keys/{access_key_id}/revoke"))

    def put_tenant(self, tenant_id: str, **fields: Any) -> dict:
        return self._ok(self.http.put(f"/tenants/{tenant_id}", json=fields))

    def usage(self, tenant_id: str) -> list[dict]:
        return self._ok(self.http.get("/usage", params={"tenantId": tenant_id}))["models"]

    def close(self) -> None:
        self.http.close()


@dataclass(frozen=True)
class Keys:
    tenant_id: str
    access_key_id: str
    secret_access_key: str
    api_key: str


# --- the SDKs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A call that succeeded: a 200 whose body the SDK read completely and parsed."""

    request_id: str
    input_tokens: int
    output_tokens: int


def bedrock(replica: Replica, keys: Keys):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=replica.url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(
            retries={"total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=32,
        ),
    )


def openai_client(replica: Replica, keys: Keys) -> openai.OpenAI:
    return openai.OpenAI(api_key=keys.api_key, base_url=replica.url + "/v1", max_retries=0, timeout=30)


def converse(client, text: str) -> Answer:
    out = client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": text}]}])
    assert out["output"]["message"]["content"][0]["text"] == f"You said: {text}"
    return Answer(
        out["ResponseMetadata"]["RequestId"], out["usage"]["inputTokens"], out["usage"]["outputTokens"]
    )


def chat(client: openai.OpenAI, text: str) -> Answer:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": text}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == f"You said: {text}"
    assert completion.usage is not None
    # The gateway's request id: every response carries x-amzn-RequestId (the completion id is
    # chatcmpl-<the same id>).
    request_id = raw.headers["x-amzn-requestid"]
    assert completion.id == f"chatcmpl-{request_id}"
    return Answer(request_id, completion.usage.prompt_tokens, completion.usage.completion_tokens)


class Truncated(Exception):
    """A stream that broke off after its last event (the whole answer and its usage were read)."""

    def __init__(self, operation: str, request_id: str):
        super().__init__(operation, request_id)
        self.operation, self.request_id = operation, request_id


def converse_stream(client, text: str) -> Answer:
    out = client.converse_stream(modelId=MODEL, messages=[{"role": "user", "content": [{"text": text}]}])
    request_id, parts, usage = out["ResponseMetadata"]["RequestId"], [], None
    try:
        for event in out["stream"]:
            if "contentBlockDelta" in event:
                parts.append(event["contentBlockDelta"]["delta"]["text"])
            elif "metadata" in event:
                usage = event["metadata"]["usage"]
    except Exception as exc:
        if usage is not None:  # the last event arrived, the end of the body did not
            raise Truncated("ConverseStream", request_id) from exc
        raise
    assert "".join(parts) == f"You said: {text}" and usage is not None
    return Answer(request_id, usage["inputTokens"], usage["outputTokens"])


def chat_stream(client: openai.OpenAI, text: str) -> Answer:
    create = client.chat.completions.with_streaming_response.create
    messages: Any = [{"role": "user", "content": text}]
    with create(model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}) as raw:
        request_id, parts, usage = raw.headers["x-request-id"], [], None
        try:
            for chunk in raw.parse():
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                if chunk.usage is not None:
                    usage = chunk.usage
        except Exception as exc:
            if usage is not None:  # the usage chunk arrived, `data: [DONE]` did not
                raise Truncated("ChatCompletionsStream", request_id) from exc
            raise
    assert "".join(parts) == f"You said: {text}" and usage is not None
    return Answer(request_id, usage.prompt_tokens, usage.completion_tokens)


# --- a PostgreSQL server that can be stopped and started again -------------------------------------


class PostgresServer:
    """A throwaway PostgreSQL on a fixed loopback port whose data directory outlives a stop."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            pytest.skip("PostgreSQL server binaries not installed (apt-get install -y postgresql)")
        # Not under pytest's tmp_path: as root the server runs as `postgres`, which cannot enter it.
        self.bindir, self.workdir = bindir, Path(tempfile.mkdtemp(prefix="strata-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        self.data = self.workdir / "data"
        self.port = free_port()
        self.url = f"postgresql://strata@127.0.0.1:{self.port}/postgres"
        self.proc: subprocess.Popen | None = None
        subprocess.run(
            _as_server_user([str(bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "strata"]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = ["-p", str(self.port), "-c", "listen_addresses=127.0.0.1"]
        options += ["-c", f"unix_socket_directories={self.workdir}"]
        self.proc = subprocess.Popen(
            _as_server_user([str(self.bindir / "postgres"), "-D", str(self.data), *options]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_ready(self.url, self.proc)

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, as in a server restart or a failover.

        Through ``pg_ctl`` (which signals the postmaster by its pid file): as root the server
        runs under ``runuser``, which would not pass a signal on as is.
        """
        if self.proc is not None and self.proc.poll() is None:
            pg_ctl = [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"]
            subprocess.run(_as_server_user(pg_ctl), check=True, stdout=subprocess.DEVNULL, timeout=60)
            self.proc.wait(timeout=30)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
