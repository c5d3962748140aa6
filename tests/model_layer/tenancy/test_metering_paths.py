"""Calls that end early are metered and charged: client hang-ups, provider errors, timeouts.

Real clients (boto3, the openai SDK, httpx) against the gateway on a loopback port; the model is
the fake provider, slowed down (``chunk_delay_s``, ``delay_s``) or scripted to stop mid-answer.
Each test reads the usage table the gateway wrote (outcome, tokens) and, where a tenant has a
tokens-per-minute limit, what the limiter charged: the rate-limit clock is frozen, so the
retry-after of the next refused call is exactly the tokens the first call was charged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
from botocore.exceptions import ClientError, EventStreamError

from model_layer.config import ModelConfig
from model_layer.errors import ModelStreamErrorException
from model_layer.providers.fake import FakeProvider, FakeProviderConfig
from model_layer.types import (
    BlockDelta,
    BlockStop,
    ChatRequest,
    MessageStart,
    MessageStop,
    Metadata,
    StreamEvent,
    Usage,
)
from tests.model_layer.tenancy.tenancy_harness import (
    CHAT_MODEL,
    build,
    config,
    openai_client,
    runtime,
    usage_rows,
    user,
)

REPLY_WORDS = 60
REPLY = " ".join(f"w{i}" for i in range(REPLY_WORDS))
PROMPT = "please tell me a long story about tokens"


class Scripted(FakeProvider):
    """Streams ``words`` deltas (reporting progress as a real engine does), then fails or stalls."""

    def __init__(self, words: int, *, fail: Exception | None = None, stall_s: float = 0.0):
        super().__init__(
            FakeProviderConfig(name="fake", type="fake"), [ModelConfig(id=CHAT_MODEL, provider="fake")]
        )
        self.words, self.fail, self.stall_s = words, fail, stall_s

    async def converse_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        yield MessageStart()
        request.progress.input_tokens = 77  # what the engine counted for the prompt
        for i in range(self.words):
            request.progress.output_tokens += 1
            yield BlockDelta(0, text=f" s{i}")
        if self.fail is not None:
            raise self.fail
        await asyncio.sleep(self.stall_s)
        yield BlockStop(0)
        yield MessageStop("end_turn")
        yield Metadata(usage=Usage(input_tokens=77, output_tokens=self.words))


def retry_after_ms(error: ClientError) -> int:
    return int(error.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-retry-after"])


@pytest.fixture
def slow(tmp_path):
    """A gateway whose model answers REPLY one word every 20 ms."""
    gw = build(tmp_path / "gw", doc=config(reply=REPLY, chunk_delay_s=0.02))
    yield gw
    gw.keystore.close()


# --- the client hangs up mid-stream -----------------------------------------------------------------


def test_boto3_stream_hang_up_is_metered_and_charged_to_the_tpm_bucket(slow, live_server):
    keys = slow.issue("acme", tokens_per_minute=60)
    with live_server(slow.app) as url:
        client = runtime(url, keys)
        stream = client.converse_stream(modelId=CHAT_MODEL, messages=user(PROMPT))["stream"]
        read = 0
        for event in stream:
            read += "contentBlockDelta" in event
            if read == 5:
                break
        stream.close()
        (row,) = usage_rows(slow, "acme")
        assert (row.operation, row.outcome, row.error_code) == ("ConverseStream", "client_disconnected", None)
        assert row.input_tokens > 0 and 5 <= row.output_tokens < REPLY_WORDS
        # No maxTokens: the next call reserves a whole minute's budget, and the bucket lacks
        # exactly what the hung-up call used (the clock is frozen).
        with pytest.raises(ClientError) as info:
            client.converse(modelId=CHAT_MODEL, messages=user("next"))
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert retry_after_ms(info.value) == (row.input_tokens + row.output_tokens) * 1000  # 60 tokens/min


def test_openai_stream_hang_up_is_metered(slow, live_server):
    keys = slow.issue("acme")
    with live_server(slow.app) as url:
        client = openai_client(url, keys.api_key)
        stream = client.chat.completions.create(
            model=CHAT_MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        read = 0
        for chunk in stream:
            read += bool(chunk.choices and chunk.choices[0].delta.content)
            if read == 7:
                break
        stream.close()
        (row,) = usage_rows(slow, "acme")
    assert (row.operation, row.outcome) == ("ChatCompletionsStream", "client_disconnected")
    assert row.input_tokens > 0 and 7 <= row.output_tokens < REPLY_WORDS


def test_a_hung_up_stream_is_charged_so_a_small_tpm_is_not_overrun(slow, live_server):
    """The issue's case: a 300-TPM tenant that hangs up streams must still be stopped."""
    keys = slow.issue("acme", tokens_per_minute=300)
    with live_server(slow.app) as url:
        client = runtime(url, keys)
        for calls in range(1, 21):
            try:
                stream = client.converse_stream(
                    modelId=CHAT_MODEL, messages=user(PROMPT), inferenceConfig={"maxTokens": 50}
                )["stream"]
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ThrottlingException"
                break
            read = 0
            for event in stream:
                read += "contentBlockDelta" in event
                if read == 40:
                    break
            stream.close()
            usage_rows(slow, "acme", calls)  # settled before the next call
        else:
            pytest.fail("20 hung-up streams were all admitted")
    rows = slow.usage.records(tenant_id="acme")
    assert all(r.outcome == "client_disconnected" and r.output_tokens >= 40 for r in rows)
    assert len(rows) >= 2 and sum(r.input_tokens + r.output_tokens for r in rows) <= 300


# --- the provider fails or stalls mid-stream --------------------------------------------------------


def test_a_mid_stream_provider_error_is_metered_with_the_partial_output(tmp_path, live_server):
    failure = ModelStreamErrorException("the model stopped")
    gw = build(tmp_path / "gw", providers={"fake": Scripted(4, fail=failure)})
    keys = gw.issue("acme")
    with live_server(gw.app) as url:
        stream = runtime(url, keys).converse_stream(modelId=CHAT_MODEL, messages=user(PROMPT))["stream"]
        with pytest.raises(EventStreamError, match=r"(?i)ModelStreamErrorException"):
            list(stream)
        (row,) = usage_rows(gw, "acme")
    assert (row.outcome, row.error_code) == ("error", "ModelStreamErrorException")
    assert (row.input_tokens, row.output_tokens) == (77, 4)  # the provider's progress, not a guess
    gw.keystore.close()


def test_the_fake_failing_mid_stream_is_metered_as_an_error_with_the_prompt(tmp_path, live_server):
    doc = config(fail_times=1, fail_mid_stream=True, fail_with="ModelErrorException")
    gw = build(tmp_path / "gw", doc=doc)
    keys = gw.issue("acme")
    with live_server(gw.app) as url:
        client = openai_client(url, keys.api_key)
        stream = client.chat.completions.create(
            model=CHAT_MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        with pytest.raises(openai.APIError, match="injected ModelErrorException"):
            list(stream)
        (row,) = usage_rows(gw, "acme")
    assert (row.outcome, row.error_code, row.operation) == (
        "error",
        "ModelErrorException",
        "ChatCompletionsStream",
    )
    assert row.input_tokens > 0 and row.output_tokens == 0  # the model said nothing but read the prompt
    gw.keystore.close()


def test_a_gateway_timeout_mid_stream_is_metered_with_the_partial_output(tmp_path, live_server):
    gw = build(tmp_path / "gw", providers={"fake": Scripted(3, stall_s=5)}, request_timeout_s=0.3)
    keys = gw.issue("acme", tokens_per_minute=1000)
    with live_server(gw.app) as url:
        stream = runtime(url, keys).converse_stream(modelId=CHAT_MODEL, messages=user(PROMPT))["stream"]
        with pytest.raises(EventStreamError, match=r"(?i)ModelTimeoutException|did not respond"):
            list(stream)
        (row,) = usage_rows(gw, "acme")
    assert (row.outcome, row.error_code) == ("error", "ModelTimeoutException")
    assert (row.input_tokens, row.output_tokens) == (77, 3)
    gw.keystore.close()


@pytest.mark.parametrize("client", ["boto3", "openai"])
def test_a_models_own_timeout_applies_on_every_route(tmp_path, live_server, client):
    """strata.toml's ``timeout_s`` of a model bounds its streams whichever API the client uses.

    The Bedrock routes set ``ChatRequest.timeout_s`` to ``settings.request_timeout_s`` (120 s by
    default), and the router prefers a request's timeout to the model's, so a model's own
    ``timeout_s`` never applies there (it does on /v1, which sets none).
    """
    doc = config(models={CHAT_MODEL: {"timeout_s": 0.3}})
    gw = build(tmp_path / "gw", doc=doc, providers={"fake": Scripted(2, stall_s=3)})
    keys = gw.issue("acme")
    with live_server(gw.app) as url:
        if client == "boto3":
            stream = runtime(url, keys).converse_stream(modelId=CHAT_MODEL, messages=user(PROMPT))
            with pytest.raises(EventStreamError, match=r"(?i)ModelTimeoutException|did not respond"):
                list(stream["stream"])
        else:
            stream = openai_client(url, keys.api_key).chat.completions.create(
                model=CHAT_MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
            )
            with pytest.raises(openai.APIError, match=r"ModelTimeoutException|did not respond"):
                list(stream)
        (row,) = usage_rows(gw, "acme")
    assert (row.outcome, row.error_code, row.output_tokens) == ("error", "ModelTimeoutException", 2)
    gw.keystore.close()


# --- a non-streaming client gives up ---------------------------------------------------------------


GIVE_UPS = 12


def _converse_and_give_up(url: str, keys) -> None:
    body = json.dumps({"messages": user(PROMPT)})
    headers = {"Authorization": f"Bearer {keys.api_key}", "Content-Type": "application/json"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/model/{CHAT_MODEL}/converse", content=body, headers=headers, timeout=0.15)


def _chat_and_give_up(url: str, keys) -> None:
    client = openai_client(url, keys.api_key, timeout=0.15)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": PROMPT}])
    client.close()


@pytest.mark.parametrize(
    ("give_up", "operation"),
    [(_converse_and_give_up, "Converse"), (_chat_and_give_up, "ChatCompletions")],
    ids=["bedrock-converse", "openai-chat"],
)
def test_non_streaming_clients_that_give_up_are_metered_every_time(tmp_path, live_server, give_up, operation):
    """Each of a dozen hang-ups is a ``client_disconnected`` call billed for what was generated.

    Python 3.11's ``asyncio.wait_for`` swallows a cancellation that arrives while the awaited
    step has just finished (CPython gh-86296); the router's per-event timeout uses it, so some
    hang-ups were not cancelled: the whole answer was generated and metered ``complete``.
    """
    gw = build(tmp_path / "gw", doc=config(reply=REPLY, chunk_delay_s=0.005))
    keys = gw.issue("acme")
    with live_server(gw.app) as url:
        for _ in range(GIVE_UPS):
            give_up(url, keys)
        rows = usage_rows(gw, "acme", GIVE_UPS)
    assert {r.operation for r in rows} == {operation}
    assert [r.outcome for r in rows] == ["client_disconnected"] * GIVE_UPS
    # Each is billed its prompt and the words generated before the hang-up: never the whole answer.
    # A hang-up can land before the first word on a loaded machine (0 words), so "some words were
    # billed" is asked of the dozen, not of each.
    assert all(r.input_tokens > 0 and r.output_tokens < REPLY_WORDS for r in rows)
    assert any(r.output_tokens >= 1 for r in rows)
    gw.keystore.close()


def test_a_client_that_gives_up_before_the_first_token_is_billed_its_prompt(tmp_path, live_server):
    """The provider has the prompt (a hosted model bills it, a local one spent the prefill on
    it), so hanging up before the first token must not make a call free: otherwise a tenant
    with a small TPM sends huge prompts and hangs up, and its bucket is refunded every time."""
    gw = build(tmp_path / "gw", doc=config(delay_s=1.5))
    keys = gw.issue("acme", tokens_per_minute=60)
    body = json.dumps({"messages": user(PROMPT)})
    headers = {"Authorization": f"Bearer {keys.api_key}", "Content-Type": "application/json"}
    with live_server(gw.app) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/model/{CHAT_MODEL}/converse", content=body, headers=headers, timeout=0.3)
        (row,) = usage_rows(gw, "acme")
    assert row.outcome == "client_disconnected"
    assert row.input_tokens > 0
    gw.keystore.close()
