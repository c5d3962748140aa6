"""The access log: one ``strata.access`` line per request from real clients, with no prompt text."""

from __future__ import annotations

import logging
import re
import threading

import boto3
import httpx
import openai
import pytest
from botocore.exceptions import EventStreamError

from model_layer.api.access_log import AccessLogMiddleware
from tests.model_layer.gateway_harness import CHAT_MODEL, build_gateway, fake_models
from tests.model_layer.live import serve_app

SECRET = "PURPLE-ELEPHANT-42"  # prompt text that must never reach the log


class Lines(logging.Handler):
    """Collects access lines; the line is written after the response, so tests wait for it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.lines.append(record.getMessage())
            self._changed.notify_all()

    def wait_for(self, count: int) -> list[str]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.lines) >= count, timeout=10), self.lines
        return self.lines


@pytest.fixture
def access_lines():
    logger = logging.getLogger("strata.access")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def fields(line: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in line.split())


def _gateway(tmp_path, monkeypatch, **provider):
    monkeypatch.setenv("STRATA_ACCESS_LOG", "true")
    return build_gateway(tmp_path / "gw", fake_models(**provider))


def _boto(gw, base_url: str, service: str):
    return boto3.client(service, endpoint_url=base_url, region_name="us-east-1",
                        aws_access_key_id=gw.keys.access_key_id,
                        aws_secret_access_key=gw.keys.secret_access_key)  # fmt: skip


def test_one_line_per_request_with_tenant_operation_model_status_tokens(tmp_path, monkeypatch, access_lines):
    gw = _gateway(tmp_path, monkeypatch)
    with serve_app(gw.app) as base_url:
        chat = httpx.post(
            f"{base_url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {gw.keys.api_key}"},
            json={"model": CHAT_MODEL, "messages": [{"role": "user", "content": f"the code is {SECRET}"}]},
        )
        assert SECRET in chat.json()["choices"][0]["message"]["content"]  # the fake echoes it
        runtime = _boto(gw, base_url, "bedrock-runtime")
        messages = [{"role": "user", "content": [{"text": SECRET}]}]
        list(runtime.converse_stream(modelId=CHAT_MODEL, messages=messages)["stream"])
        _boto(gw, base_url, "bedrock").list_foundation_models()
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-strata-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        assert httpx.get(f"{base_url}/no/such/route").status_code == 404
        lines = access_lines.wait_for(5)
    assert len(lines) == 5
    assert all(SECRET not in line for line in lines)
    parsed = [fields(line) for line in lines]
    assert parsed[0] == {
        "tenant": "acme",
        "op": "ChatCompletions",
        "model": CHAT_MODEL,
        "status": "200",
        "in": str(chat.json()["usage"]["prompt_tokens"]),
        "out": str(chat.json()["usage"]["completion_tokens"]),
        "ms": parsed[0]["ms"],
        "rid": chat.headers["x-amzn-requestid"],
    }
    assert re.fullmatch(r"\d+", parsed[0]["ms"])
    assert (parsed[1]["op"], parsed[1]["status"], parsed[1]["tenant"]) == ("ConverseStream", "200", "acme")
    assert int(parsed[1]["out"]) > 0  # counted after the stream's last event, in the streaming task
    assert (parsed[2]["op"], parsed[2]["model"], parsed[2]["in"]) == ("ListFoundationModels", "-", "0")
    assert (parsed[3]["tenant"], parsed[3]["op"], parsed[3]["status"]) == ("-", "ListModels", "401")
    assert (parsed[4]["op"], parsed[4]["status"]) == ("-", "404")


def test_a_mid_stream_failure_logs_its_error_code(tmp_path, monkeypatch, access_lines):
    gw = _gateway(tmp_path, monkeypatch, fail_times=1, fail_with="ThrottlingException", fail_mid_stream=True)
    with serve_app(gw.app) as base_url:
        runtime = _boto(gw, base_url, "bedrock-runtime")
        stream = runtime.converse_stream(
            modelId=CHAT_MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}]
        )
        with pytest.raises(EventStreamError, match="throttlingException"):  # botocore's in-stream error
            list(stream["stream"])
        (line,) = access_lines.wait_for(1)
    parsed = fields(line)
    assert (parsed["op"], parsed["status"], parsed["error"]) == (
        "ConverseStream",
        "200",
        "ThrottlingException",
    )


def test_off_by_default_in_the_app(tmp_path, access_lines):
    gw = build_gateway(tmp_path / "gw")  # STRATA_ACCESS_LOG unset: create_app adds no middleware
    assert AccessLogMiddleware not in [m.cls for m in gw.app.user_middleware]
    with serve_app(gw.app) as base_url:
        assert httpx.get(f"{base_url}/health").status_code == 200
    assert access_lines.lines == []
