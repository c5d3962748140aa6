"""Prompt + maxTokens against the local model's context window, through the real clients.

The embedded SmolLM2 serves 512 tokens a request here (n_ctx 1024 over 2 slots). A request that
asks for more answer than its prompt leaves room for is a 400 before the engine runs (Bedrock's
ValidationException, OpenAI's ``context_length_exceeded``); one that fits runs; one that names no
maxTokens gets what the window has left and says so in its stop reason.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import boto3
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.model_layer.gateway_harness import build_gateway

pytestmark = pytest.mark.model

WINDOW = 512
CHAT = "local.smollm2-135m-instruct-v1:0"
LLAMA = "meta.smollm2-135m-instruct-v1:0"
CLAUDE = "anthropic.smollm2-135m-instruct-v1:0"
_CHAT = {"provider": "local", "upstream": "smollm2-135m-instruct", "context_window": 2048}
CONFIG = {
    "providers": [{"name": "local", "type": "local", "n_ctx": 2 * WINDOW, "n_parallel": 2}],
    "models": [
        {"id": CHAT, **_CHAT},
        {"id": LLAMA, **_CHAT, "native_format": "meta"},
        {"id": CLAUDE, **_CHAT, "native_format": "anthropic"},
    ],
}


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    from tests.model_layer.live import serve_app

    gateway = build_gateway(tmp_path_factory.mktemp("gw"), CONFIG)
    with serve_app(gateway.app) as base_url:
        bedrock = boto3.client(
            "bedrock-runtime",
            endpoint_url=base_url,
            region_name="us-east-1",
            aws_access_key_id=gateway.keys.access_key_id,
            aws_secret_access_key=gateway.keys.secret_access_key,
            config=Config(retries={"max_attempts": 1}, read_timeout=120),
        )
        with openai.OpenAI(
            base_url=f"{base_url}/v1", api_key=gateway.keys.api_key, max_retries=0, timeout=120
        ) as oai:
            yield SimpleNamespace(bedrock=bedrock, openai=oai, router=gateway.router, texts={})


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def prompt_of(gw, tokens: int) -> str:
    """A user message whose Converse prompt is exactly ``tokens`` tokens (by the model's count)."""
    if tokens not in gw.texts:

        def count(n: int) -> int:
            text = words(n)
            return gw.bedrock.count_tokens(modelId=CHAT, input={"converse": {"messages": ask(text)}})[
                "inputTokens"
            ]

        per_word = (count(60) - count(10)) / 50
        base = count(10) - 10 * per_word
        n = round((tokens - base) / per_word)
        assert count(n) == tokens
        gw.texts[tokens] = words(n)
    return gw.texts[tokens]


def words(n: int) -> str:
    # An instruction at the end: greedy SmolLM2 answers it rather than stopping at once.
    return " ".join(["tent"] * n) + "\n\nNow tell me a long story about camping in a tent."


def engine_requests(gw) -> int:
    return gw.router.providers["local"]._engine.cache_stats()["requests"]


def bedrock_error(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


# --- Bedrock ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["converse", "converse_stream"])
def test_converse_refuses_max_tokens_past_the_window(gw, operation):
    text = prompt_of(gw, 500)
    before = engine_requests(gw)
    call = getattr(gw.bedrock, operation)
    status, code, message = bedrock_error(
        lambda: call(modelId=CHAT, messages=ask(text), inferenceConfig={"maxTokens": 13})
    )
    assert (status, code) == (400, "ValidationException")
    assert message == (
        "input length and `max_tokens` exceed context limit: 500 + 13 > 512, "
        "decrease input length or `max_tokens` and try again"
    )
    assert engine_requests(gw) == before  # refused before the engine ran


def test_converse_runs_a_request_that_fills_the_window_exactly(gw):
    text = prompt_of(gw, 500)
    answer = gw.bedrock.converse(
        modelId=CHAT, messages=ask(text), inferenceConfig={"maxTokens": 12, "temperature": 0}
    )
    assert answer["usage"]["inputTokens"] == 500
    assert 0 < answer["usage"]["outputTokens"] <= 12
    assert answer["stopReason"] in {"end_turn", "max_tokens"}


def test_invoke_model_native_max_tokens_are_checked(gw):
    text = prompt_of(gw, 500)
    llama = json.dumps({"prompt": text, "max_gen_len": 400})
    status, code, message = bedrock_error(lambda: gw.bedrock.invoke_model(modelId=LLAMA, body=llama))
    assert (status, code) == (400, "ValidationException")
    assert "exceed context limit" in message and "+ 400 > 512" in message
    claude = json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 13,
            "messages": [{"role": "user", "content": text}],
        }
    )
    status, code, message = bedrock_error(lambda: gw.bedrock.invoke_model(modelId=CLAUDE, body=claude))
    assert (status, code) == (400, "ValidationException")
    assert "500 + 13 > 512" in message
    stream = lambda: gw.bedrock.invoke_model_with_response_stream(modelId=CLAUDE, body=claude)  # noqa: E731
    assert bedrock_error(stream)[1] == "ValidationException"


def test_without_max_tokens_the_answer_gets_what_the_window_leaves(gw):
    text = prompt_of(gw, 510)
    answer = gw.bedrock.converse(modelId=CHAT, messages=ask(text), inferenceConfig={"temperature": 0})
    assert answer["usage"]["inputTokens"] == 510
    assert answer["usage"]["outputTokens"] == 2
    assert answer["stopReason"] == "model_context_window_exceeded"
    greedy = {"temperature": 0}
    events = list(
        gw.bedrock.converse_stream(modelId=CHAT, messages=ask(text), inferenceConfig=greedy)["stream"]
    )
    assert events[-2]["messageStop"]["stopReason"] == "model_context_window_exceeded"
    llama = json.loads(
        gw.bedrock.invoke_model(modelId=LLAMA, body=json.dumps({"prompt": text, "temperature": 0}))[
            "body"
        ].read()
    )
    assert llama["stop_reason"] == "length"


def test_a_prompt_longer_than_the_window_is_refused_with_or_without_max_tokens(gw):
    text = prompt_of(gw, 600)
    status, code, message = bedrock_error(lambda: gw.bedrock.converse(modelId=CHAT, messages=ask(text)))
    assert (status, code) == (400, "ValidationException")
    assert message == "prompt is too long for the model's context window: 600 tokens > 512 maximum"
    _, _, message = bedrock_error(
        lambda: gw.bedrock.converse(modelId=CHAT, messages=ask(text), inferenceConfig={"maxTokens": 5})
    )
    assert message.startswith("input length and `max_tokens` exceed context limit: 600 + 5 > 512")


# --- OpenAI ----------------------------------------------------------------------------------------


def openai_error(call) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("stream", [False, True])
def test_openai_refuses_max_tokens_past_the_window(gw, field, stream):
    text = prompt_of(gw, 500)
    before = engine_requests(gw)
    messages = [{"role": "user", "content": text}]
    error = openai_error(
        lambda: gw.openai.chat.completions.create(model=CHAT, messages=messages, stream=stream, **{field: 13})
    )
    assert error.status_code == 400
    assert (error.type, error.code, error.param) == (
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    )
    assert error.body["message"] == (
        "This model's maximum context length is 512 tokens. However, you requested 513 tokens "
        "(500 in the messages, 13 in the completion). Please reduce the length of the messages or completion."
    )
    assert engine_requests(gw) == before


def test_openai_runs_a_request_that_fits_and_cuts_a_default_answer_at_the_window(gw):
    fits = gw.openai.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": prompt_of(gw, 500)}], max_tokens=12, temperature=0
    )
    assert fits.usage.prompt_tokens == 500 and 0 < fits.usage.completion_tokens <= 12
    assert fits.choices[0].finish_reason in {"stop", "length"}
    cut = gw.openai.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": prompt_of(gw, 510)}], temperature=0
    )
    assert (cut.usage.prompt_tokens, cut.usage.completion_tokens) == (510, 2)
    assert cut.choices[0].finish_reason == "length"


def test_openai_prompt_longer_than_the_window(gw):
    messages = [{"role": "user", "content": prompt_of(gw, 600)}]
    error = openai_error(lambda: gw.openai.chat.completions.create(model=CHAT, messages=messages))
    assert error.code == "context_length_exceeded"
    assert error.body["message"] == (
        "This model's maximum context length is 512 tokens. However, your messages resulted in "
        "600 tokens. Please reduce the length of the messages."
    )
