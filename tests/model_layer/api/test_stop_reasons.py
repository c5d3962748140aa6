"""A matched stop sequence reaches each client the way Bedrock (or OpenAI) reports it.

boto3 and the openai SDK against a live gateway over the fake provider, which cuts its answer at a
stop sequence like a model does: Converse/ConverseStream say ``stopReason: stop_sequence`` (and
name the sequence under ``additionalModelResponseFields`` when asked), the Anthropic InvokeModel
family says ``stop_reason: stop_sequence`` with ``stop_sequence`` set, Titan
``STOP_CRITERIA_MET``, OpenAI ``finish_reason: stop``.
"""

from __future__ import annotations

import json

import boto3
import openai
import pytest
from botocore.config import Config

from tests.model_layer.gateway_harness import CHAT_MODEL, build_gateway, fake_models
from tests.model_layer.live import serve_app

CLAUDE = "anthropic.fake-claude-v1:0"
TITAN = "amazon.fake-titan-text-v1:0"
HELLO = [{"role": "user", "content": [{"text": "count 1 2 3 4 5 6"}]}]  # answer: "You said: count 1 …"


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    config = fake_models()
    config["models"] += [
        {"id": CLAUDE, "provider": "fake", "native_format": "anthropic"},
        {"id": TITAN, "provider": "fake", "native_format": "titan-text"},
    ]
    gw = build_gateway(tmp_path_factory.mktemp("gw"), config)
    with serve_app(gw.app) as base_url:
        runtime = boto3.client(
            "bedrock-runtime",
            endpoint_url=base_url,
            region_name="us-east-1",
            aws_access_key_id=gw.keys.access_key_id,
            aws_secret_access_key=gw.keys.secret_access_key,
            config=Config(retries={"total_max_attempts": 1}),
        )
        oai = openai.OpenAI(base_url=f"{base_url}/v1", api_key=gw.keys.api_key, max_retries=0)
        yield runtime, oai


def test_converse_reports_stop_sequence_and_names_it_when_asked(clients):
    runtime, _ = clients
    stop = {"stopSequences": ["5"]}
    answer = runtime.converse(modelId=CHAT_MODEL, messages=HELLO, inferenceConfig=stop)
    assert answer["stopReason"] == "stop_sequence"
    assert answer["output"]["message"]["content"] == [{"text": "You said: count 1 2 3 4 "}]
    assert "additionalModelResponseFields" not in answer
    named = runtime.converse(
        modelId=CHAT_MODEL,
        messages=HELLO,
        inferenceConfig=stop,
        additionalModelResponseFieldPaths=["/stop_sequence"],
    )
    assert named["additionalModelResponseFields"] == {"stop_sequence": "5"}
    unmatched = runtime.converse(
        modelId=CHAT_MODEL, messages=HELLO, inferenceConfig={"stopSequences": ["zz"]}
    )
    assert unmatched["stopReason"] == "end_turn"


def test_converse_stream_reports_stop_sequence(clients):
    runtime, _ = clients
    events = list(
        runtime.converse_stream(modelId=CHAT_MODEL, messages=HELLO, inferenceConfig={"stopSequences": ["5"]})[
            "stream"
        ]
    )
    assert events[-2]["messageStop"] == {"stopReason": "stop_sequence"}
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "You said: count 1 2 3 4 "


def test_anthropic_and_titan_bodies_report_their_own_stop_fields(clients):
    runtime, _ = clients
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "count 1 2 3"}],
    }
    answer = json.loads(
        runtime.invoke_model(modelId=CLAUDE, body=json.dumps({**body, "stop_sequences": ["2"]}))[
            "body"
        ].read()
    )
    assert (answer["stop_reason"], answer["stop_sequence"]) == ("stop_sequence", "2")
    plain = json.loads(runtime.invoke_model(modelId=CLAUDE, body=json.dumps(body))["body"].read())
    assert (plain["stop_reason"], plain["stop_sequence"]) == ("end_turn", None)
    stream = runtime.invoke_model_with_response_stream(
        modelId=CLAUDE, body=json.dumps({**body, "stop_sequences": ["2"]})
    )
    chunks = [json.loads(e["chunk"]["bytes"]) for e in stream["body"]]
    (delta,) = [c["delta"] for c in chunks if c["type"] == "message_delta"]
    assert delta == {"stop_reason": "stop_sequence", "stop_sequence": "2"}
    titan = {"inputText": "count 1 2 3", "textGenerationConfig": {"stopSequences": ["2"]}}
    result = json.loads(runtime.invoke_model(modelId=TITAN, body=json.dumps(titan))["body"].read())[
        "results"
    ][0]
    assert result["completionReason"] == "STOP_CRITERIA_MET"


def test_openai_reports_finish_reason_stop(clients):
    _, oai = clients
    r = oai.chat.completions.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "a b c"}], stop=["b"]
    )
    assert (r.choices[0].finish_reason, r.choices[0].message.content) == ("stop", "You said: a ")
