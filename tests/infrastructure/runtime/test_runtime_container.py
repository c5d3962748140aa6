"""The SageMaker container contract, over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

import json

import httpx
import pytest

from infrastructure.runtime.container import create_app
from tests.infrastructure.runtime.tests_runtime_support import LiveServer

pytestmark = pytest.mark.model

CHAT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "temperature": 0}


@pytest.fixture
def http(live_container):
    with httpx.Client(base_url=live_container.url, timeout=60) as client:
        yield client


def test_ping_is_200_once_models_are_loaded(http):
    response = http.get("/ping")
    assert response.status_code == 200
    assert response.json()["models"] == ["SmolLM2-135M-Instruct.Q4_1", "all-MiniLM-L6-v2-int8"]


def test_ping_is_503_without_a_model():
    with LiveServer(create_app(None, None)) as server:
        assert httpx.get(f"{server.url}/ping").status_code == 503


def test_chat_invocation_returns_a_chat_completion(http):
    response = http.post("/invocations", json=CHAT)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]


def test_tgi_generate_invocation(http):
    response = http.post(
        "/invocations",
        json={
            "inputs": "The sky is",
            "parameters": {"max_new_tokens": 5, "do_sample": False, "details": True},
        },
    )
    assert response.status_code == 200
    [result] = response.json()
    assert result["generated_text"] and result["details"]["generated_tokens"] == 5
    assert result["details"]["finish_reason"] == "length"


def test_tgi_json_grammar_constrains_output(http):
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    response = http.post(
        "/invocations",
        json={
            "inputs": "Answer as JSON:",
            # greedy: a sampled run may pad with grammar-legal whitespace until max_new_tokens
            "parameters": {
                "max_new_tokens": 20,
                "do_sample": False,
                "grammar": {"type": "json", "value": schema},
            },
        },
    )
    assert response.status_code == 200, response.text
    assert isinstance(json.loads(response.json()[0]["generated_text"])["ok"], bool)


def test_embeddings_invocation(http):
    response = http.post("/invocations", json={"input": ["one", "two"]})
    body = response.json()
    assert [len(d["embedding"]) for d in body["data"]] == [384, 384]
    assert body["usage"]["prompt_tokens"] == 6


def test_count_tokens_invocation(http):
    assert http.post("/invocations", json={"count_tokens": "Hello world"}).json() == {"input_tokens": 2}
    messages = http.post("/invocations", json={"count_tokens": CHAT["messages"]}).json()
    assert messages["input_tokens"] > 10


def test_stream_true_returns_json_lines(http):
    with http.stream("POST", "/invocations", json={**CHAT, "stream": True}) as response:
        assert response.headers["content-type"].startswith("application/jsonlines")
        events = [json.loads(line) for line in response.iter_lines() if line]
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])


def test_accept_event_stream_returns_sse(http):
    with http.stream("POST", "/invocations", json=CHAT, headers={"Accept": "text/event-stream"}) as response:
        lines = [line for line in response.iter_lines() if line]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)


def test_tgi_stream_events(http):
    body = {"inputs": "Once upon a time", "parameters": {"max_new_tokens": 4}, "stream": True}
    with http.stream("POST", "/invocations", json=body) as response:
        events = [json.loads(line) for line in response.iter_lines() if line]
    assert [e["index"] for e in events] == [0, 1, 2, 3]  # one event per token, as TGI sends
    assert all(e["token"]["text"] for e in events)
    assert events[-1]["generated_text"] == "".join(e["token"]["text"] for e in events)
    assert events[-1]["details"]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"", "empty request body"),
        (b"[1, 2]", "JSON object"),
        (b'{"prompt": "x"}', "exactly one of"),
        (b'{"messages": [], "input": "x"}', "exactly one of"),
        (b'{"messages": []}', "messages"),
        (b'{"messages": [{"role": "robot", "content": "x"}]}', "role"),
        (b'{"inputs": "x", "parameters": {"max_new_tokens": -1}}', "max_new_tokens"),
        (b'{"inputs": "x", "parameters": {"best_of": 2}}', "best_of"),
        (b'{"input": 5}', "input"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "lots"}', "max_tokens"),
    ],
)
def test_bad_requests_are_400_json_never_500(http, content, fragment):
    for stream in (False, True):
        body = content
        if stream and content.startswith(b'{"messages": [{'):
            body = content[:-1] + b', "stream": true}'
        response = http.post("/invocations", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert fragment in response.json()["error"]["message"]


def test_metrics_exposes_llama_cpp_counters(http):
    assert "llamacpp:prompt_tokens_total" in http.get("/metrics").text
