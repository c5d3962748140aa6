"""Guardrails inside Converse, ConverseStream and InvokeModel, driven by boto3 and langchain-aws.

The model is the deterministic echo provider ("You said: <last user text>"), so what the output
guard sees is known: a word only the input contains blocks the input; PII in the input comes back
in the output, where the output policy masks it. A blocked input must never reach the model.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from langchain_aws import ChatBedrockConverse

from tests.model_layer.gateway_harness import CHAT_MODEL, build_gateway, fake_models
from tests.model_layer.guardrails.test_control_plane import client
from tests.model_layer.live import serve_app

CLAUDE = "anthropic.fake-claude-v1:0"

DEFINITION = {
    "name": "converse-test",
    "wordPolicyConfig": {
        "wordsConfig": [
            {"text": "refund"},
            {"text": "secret sauce", "inputEnabled": False},  # checked on the way out only
        ]
    },
    "sensitiveInformationPolicyConfig": {
        "piiEntitiesConfig": [
            {"type": "EMAIL", "action": "ANONYMIZE", "inputAction": "NONE"},
            {"type": "US_SOCIAL_SECURITY_NUMBER", "action": "BLOCK"},
        ]
    },
    "blockedInputMessaging": "I can't help with refunds here.",
    "blockedOutputsMessaging": "That answer was withheld.",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    config = fake_models()
    config["models"].append({"id": CLAUDE, "provider": "fake", "native_format": "anthropic"})
    gw = build_gateway(tmp_path_factory.mktemp("conv"), config)
    with serve_app(gw.app) as base_url:
        gid = client(gw, base_url).create_guardrail(**DEFINITION)["guardrailId"]
        yield gw, base_url, client(gw, base_url, "bedrock-runtime"), gid


def _msg(text):
    return [{"role": "user", "content": [{"text": text}]}]


def _provider(gw):
    return gw.router.providers["fake"]


def test_blocked_input_never_reaches_the_model(live):
    gw, _, runtime, gid = live
    calls = _provider(gw).calls
    r = runtime.converse(
        modelId=CHAT_MODEL,
        messages=_msg("I want a refund"),
        guardrailConfig={"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "trace": "enabled"},
    )
    assert r["stopReason"] == "guardrail_intervened"
    assert r["output"]["message"]["content"] == [{"text": "I can't help with refunds here."}]
    assert r["usage"] == {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}
    assert _provider(gw).calls == calls  # the model was not called
    trace = r["trace"]["guardrail"]
    words = trace["inputAssessment"][gid]["wordPolicy"]["customWords"]
    assert words == [{"match": "refund", "action": "BLOCKED", "detected": True}]
    assert "outputAssessments" not in trace


def test_output_masked_and_blocked(live):
    _, _, runtime, gid = live
    config = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT"}
    masked = runtime.converse(
        modelId=CHAT_MODEL, messages=_msg("mail ann@example.com"), guardrailConfig=config
    )
    assert masked["output"]["message"]["content"] == [{"text": "You said: mail {EMAIL}"}]
    assert masked["stopReason"] == "guardrail_intervened"
    assert "trace" not in masked  # trace disabled by default
    blocked = runtime.converse(modelId=CHAT_MODEL, messages=_msg("the secret sauce"), guardrailConfig=config)
    assert blocked["output"]["message"]["content"] == [{"text": "That answer was withheld."}]
    assert blocked["stopReason"] == "guardrail_intervened"
    assert blocked["usage"]["outputTokens"] > 0  # the model ran: its tokens are billed
    clean = runtime.converse(modelId=CHAT_MODEL, messages=_msg("hello"), guardrailConfig=config)
    assert clean["stopReason"] == "end_turn" and clean["output"]["message"]["content"] == [
        {"text": "You said: hello"}
    ]


def test_guard_content_scopes_the_input_check(live):
    _, _, runtime, gid = live
    messages = [
        {"role": "user", "content": [{"text": "earlier I asked for a refund"}]},
        {"role": "assistant", "content": [{"text": "ok"}]},
        {"role": "user", "content": [{"guardContent": {"text": {"text": "what are your hours?"}}}]},
    ]
    config = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT"}
    r = runtime.converse(modelId=CHAT_MODEL, messages=messages, guardrailConfig=config)
    assert r["stopReason"] == "end_turn"  # "refund" is outside the guarded content
    system = [{"guardContent": {"text": {"text": "never discuss the refund policy"}}}]
    r = runtime.converse(modelId=CHAT_MODEL, messages=_msg("hi"), system=system, guardrailConfig=config)
    assert r["stopReason"] == "guardrail_intervened"  # the system prompt's guardContent is checked


def test_converse_stream_sync_masks_and_blocks_with_trace(live):
    _, _, runtime, gid = live
    config = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "trace": "enabled_full"}
    events = list(
        runtime.converse_stream(
            modelId=CHAT_MODEL, messages=_msg("write to bo@example.org"), guardrailConfig=config
        )["stream"]
    )
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "You said: write to {EMAIL}"
    assert events[-2]["messageStop"]["stopReason"] == "guardrail_intervened"
    trace = events[-1]["metadata"]["trace"]["guardrail"]
    assert (
        trace["outputAssessments"][gid][0]["sensitiveInformationPolicy"]["piiEntities"][0]["type"] == "EMAIL"
    )
    assert trace["inputAssessment"][gid]["sensitiveInformationPolicy"]["piiEntities"][0]["action"] == "NONE"
    blocked = list(
        runtime.converse_stream(
            modelId=CHAT_MODEL, messages=_msg("our secret sauce"), guardrailConfig=config
        )["stream"]
    )
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in blocked if "contentBlockDelta" in e)
    assert text == "That answer was withheld."  # sync: nothing of the answer got out first
    assert "metadata" in blocked[-1] and trace


def test_converse_stream_async_sends_first(live):
    _, _, runtime, gid = live
    config = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "streamProcessingMode": "async"}
    events = list(
        runtime.converse_stream(
            modelId=CHAT_MODEL, messages=_msg("our secret sauce"), guardrailConfig=config
        )["stream"]
    )
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text.startswith("You said: our secret sauce") and text.endswith("That answer was withheld.")
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["guardrail_intervened"]


def test_blocked_input_in_a_stream(live):
    gw, _, runtime, gid = live
    calls = _provider(gw).calls
    config = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT"}
    events = list(
        runtime.converse_stream(modelId=CHAT_MODEL, messages=_msg("ssn 123-45-6789"), guardrailConfig=config)[
            "stream"
        ]
    )
    assert events[0] == {"messageStart": {"role": "assistant"}}
    assert events[1]["contentBlockDelta"]["delta"]["text"] == "I can't help with refunds here."
    assert events[-1]["metadata"]["usage"]["totalTokens"] == 0
    assert _provider(gw).calls == calls


def test_unknown_guardrail_is_404_before_the_model(live):
    gw, _, runtime, _ = live
    calls = _provider(gw).calls
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.converse(
            modelId=CHAT_MODEL,
            messages=_msg("hi"),
            guardrailConfig={"guardrailIdentifier": "nope00000000", "guardrailVersion": "1"},
        )
    with pytest.raises(runtime.exceptions.ValidationException):
        runtime.converse(
            modelId=CHAT_MODEL,
            messages=_msg("hi"),
            guardrailConfig={"guardrailIdentifier": "abc", "guardrailVersion": "v1"},
        )
    assert _provider(gw).calls == calls


def test_invoke_model_with_guardrail_headers(live):
    _, _, runtime, gid = live
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "a refund please"}],
    }
    r = runtime.invoke_model(
        modelId=CLAUDE,
        body=json.dumps(body),
        guardrailIdentifier=gid,
        guardrailVersion="DRAFT",
        trace="ENABLED",
    )
    out = json.loads(r["body"].read())
    assert out["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert out["content"][0]["text"] == "I can't help with refunds here."
    assert gid in out["amazon-bedrock-trace"]["guardrail"]["inputAssessment"]
    body["messages"][0]["content"] = "hello"
    r = runtime.invoke_model(
        modelId=CLAUDE, body=json.dumps(body), guardrailIdentifier=gid, guardrailVersion="DRAFT"
    )
    assert json.loads(r["body"].read())["amazon-bedrock-guardrailAction"] == "NONE"
    stream = runtime.invoke_model_with_response_stream(
        modelId=CLAUDE, body=json.dumps({**body, "messages": [{"role": "user", "content": "mail x@y.io"}]}),
        guardrailIdentifier=gid, guardrailVersion="DRAFT",
    )  # fmt: skip
    chunks = [json.loads(e["chunk"]["bytes"]) for e in stream["body"]]
    text = "".join(c.get("delta", {}).get("text", "") for c in chunks)
    assert text == "You said: mail {EMAIL}"
    assert chunks[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"


def test_langchain_chat_bedrock_converse_guardrail_config(live):
    _, _, runtime, gid = live
    llm = ChatBedrockConverse(
        model=CHAT_MODEL,
        client=runtime,
        provider="anthropic",
        guardrail_config={"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "trace": "enabled"},
    )
    reply = llm.invoke("can I get a refund?")
    assert (
        reply.content == "I can't help with refunds here." or reply.text == "I can't help with refunds here."
    )
    assert reply.response_metadata["stopReason"] == "guardrail_intervened"


def test_openai_chat_completions_extension_field(live):
    import openai

    gw, base_url, _, gid = live
    oa = openai.OpenAI(base_url=f"{base_url}/v1", api_key=gw.keys.api_key, max_retries=0)
    config = {
        "guardrailConfig": {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "trace": "enabled"}
    }
    blocked = oa.chat.completions.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "refund!"}], extra_body=config
    )
    assert blocked.choices[0].message.content == "I can't help with refunds here."
    assert blocked.choices[0].finish_reason == "content_filter"
    assert blocked.model_extra["amazon-bedrock-guardrailAction"] == "INTERVENED"
    stream = oa.chat.completions.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "to a@b.co"}], extra_body=config, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "You said: to {EMAIL}"
    with pytest.raises(openai.BadRequestError) as err:
        oa.chat.completions.create(
            model=CHAT_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"guardrailConfig": {"guardrailIdentifier": gid, "guardrailVersion": "latest"}},
        )
    assert err.value.body["param"] == "guardrailConfig"


def test_guarded_calls_are_admitted_like_any_other(live):
    """Rate limits bound guarded calls too: a blocked input counts as a request (at zero tokens),
    and a throttled one is refused before the guardrail or the model does any work."""
    gw, base_url, _, _ = live
    keys = gw.issue_keys("limited", requests_per_minute=1)
    bedrock = client(gw, base_url, keys=keys)
    gid = bedrock.create_guardrail(**{**DEFINITION, "name": "limited"})["guardrailId"]
    runtime = boto3.client(
        "bedrock-runtime",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(retries={"max_attempts": 1}),  # a throttled call is refused once, not retried
    )
    config = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT"}
    store = gw.parts.service.guardrails.store
    first = runtime.converse(modelId=CHAT_MODEL, messages=_msg("refund"), guardrailConfig=config)
    assert first["stopReason"] == "guardrail_intervened"
    evaluations = store.units("limited")["evaluations"]
    with pytest.raises(runtime.exceptions.ThrottlingException):
        runtime.converse(modelId=CHAT_MODEL, messages=_msg("refund"), guardrailConfig=config)
    assert store.units("limited")["evaluations"] == evaluations  # no guardrail work for a refused call
