"""The router over fake providers: routing, retries (counted), fallback, timeouts, no retry mid-stream."""

from __future__ import annotations

import pytest

from model_layer.errors import (
    ModelErrorException,
    ModelTimeoutException,
    ResourceNotFoundException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)
from model_layer.types import (
    BlockDelta,
    BlockStart,
    BlockStop,
    MessageStart,
    MessageStop,
    Metadata,
    ToolUseStart,
    Usage,
    collect,
)
from tests.model_layer.providers.provider_helpers import chat, drain, fake_router, run

ECHO = {"name": "echo", "type": "fake"}


def one_model(**provider):
    return fake_router(
        [{**ECHO, **provider}], [{"id": "fake.echo-v1:0", "provider": "echo"}], base_delay_s=0.1
    )


def test_routes_by_model_id_and_echoes():
    router, _ = one_model()
    response = run(collect(router.converse_stream(chat("fake.echo-v1:0", "ping pong"))))
    assert response.text == "You said: ping pong"
    assert response.stop_reason == "end_turn"
    assert response.usage.input_tokens == 2
    assert response.usage.output_tokens == 4


def test_arn_and_geo_prefix_resolve_to_the_same_model():
    router, _ = one_model()
    arn = "arn:aws:bedrock:us-east-1::foundation-model/fake.echo-v1:0"
    assert router.get_model(arn).model_id == "fake.echo-v1:0"
    assert router.get_model("us.fake.echo-v1:0").model_id == "fake.echo-v1:0"


@pytest.mark.parametrize(
    ("model_id", "error", "text"),
    [
        ("fake.nope-v1:0", ResourceNotFoundException, "Model fake.nope-v1:0 not found"),
        ("bad id!", ValidationException, "at 'modelId' failed to satisfy constraint"),
        ("openai/gpt-4o", ValidationException, "at 'modelId'"),
        ("", ValidationException, "at 'modelId'"),
    ],
)
def test_unknown_and_malformed_ids(model_id, error, text):
    router, _ = one_model()
    with pytest.raises(error, match=text.replace("(", r"\(")):
        router.get_model(model_id)


def test_chat_on_embedding_model_is_a_validation_error():
    router, _ = fake_router([ECHO], [{"id": "fake.embed-v1:0", "provider": "echo", "kind": "embedding"}])
    with pytest.raises(ValidationException, match="does not support chat"):
        run(drain(router.converse_stream(chat("fake.embed-v1:0"))))


def test_retries_throttling_then_succeeds_counting_attempts():
    router, sleep = one_model(fail_times=2, fail_with="ThrottlingException")
    response = run(collect(router.converse_stream(chat("fake.echo-v1:0"))))
    assert response.text == "You said: hello there"
    assert router.providers["echo"].calls == 3
    assert len(sleep.delays) == 2
    assert all(0 <= d <= 0.1 * 2**i for i, d in enumerate(sleep.delays))


def test_gives_up_after_max_attempts_with_the_last_error():
    router, sleep = one_model(fail_times=5, fail_with="ServiceUnavailableException")
    with pytest.raises(ServiceUnavailableException):
        run(drain(router.converse_stream(chat("fake.echo-v1:0"))))
    assert router.providers["echo"].calls == 3
    assert len(sleep.delays) == 2


def test_non_retryable_error_is_not_retried():
    router, sleep = one_model(fail_times=1, fail_with="ValidationException")
    with pytest.raises(ValidationException):
        run(drain(router.converse_stream(chat("fake.echo-v1:0"))))
    assert router.providers["echo"].calls == 1
    assert sleep.delays == []


def test_no_retry_after_the_first_event_was_sent():
    router, _ = one_model(fail_times=1, fail_with="ThrottlingException", fail_mid_stream=True)
    seen = []

    async def consume():
        async for event in router.converse_stream(chat("fake.echo-v1:0")):
            seen.append(event)

    with pytest.raises(ThrottlingException):
        run(consume())
    assert seen == [MessageStart()]
    assert router.providers["echo"].calls == 1


def test_retry_after_raises_the_backoff():
    router, _ = one_model()
    # retry_after_s from the upstream wins over a smaller jittered delay
    assert router.retry.delay(1, 2.0) == 2.0
    assert router.retry.delay(1, 60.0) == router.retry.max_delay_s


def test_fallback_chain_after_retries_are_exhausted():
    router, _ = fake_router(
        [
            {"name": "down", "type": "fake", "fail_times": 99, "fail_with": "ServiceUnavailableException"},
            {"name": "also-down", "type": "fake", "fail_times": 99, "fail_with": "ModelNotReadyException"},
            {"name": "up", "type": "fake", "reply": "from the backup"},
        ],
        [
            {
                "id": "fake.primary-v1:0",
                "provider": "down",
                "fallbacks": ["fake.second-v1:0", "fake.backup-v1:0"],
            },
            {"id": "fake.second-v1:0", "provider": "also-down"},
            {"id": "fake.backup-v1:0", "provider": "up"},
        ],
        max_attempts=2,
        base_delay_s=0,
    )
    response = run(collect(router.converse_stream(chat("fake.primary-v1:0"))))
    assert response.text == "from the backup"
    assert [router.providers[n].calls for n in ("down", "also-down", "up")] == [2, 2, 1]


def test_no_fallback_for_client_errors():
    router, _ = fake_router(
        [
            {"name": "bad", "type": "fake", "fail_times": 1, "fail_with": "ValidationException"},
            {"name": "up", "type": "fake"},
        ],
        [
            {"id": "fake.primary-v1:0", "provider": "bad", "fallbacks": ["fake.backup-v1:0"]},
            {"id": "fake.backup-v1:0", "provider": "up"},
        ],
    )
    with pytest.raises(ValidationException):
        run(drain(router.converse_stream(chat("fake.primary-v1:0"))))
    assert router.providers["up"].calls == 0


def test_timeout_to_first_event():
    router, _ = one_model(delay_s=5)
    with pytest.raises(ModelTimeoutException, match=r"within 0\.05 s"):
        run(drain(router.converse_stream(chat("fake.echo-v1:0", timeout_s=0.05))))


def test_timeout_between_events_after_streaming_started():
    router, _ = one_model(chunk_delay_s=5)
    seen = []

    async def consume():
        async for event in router.converse_stream(chat("fake.echo-v1:0", timeout_s=0.05)):
            seen.append(event)

    with pytest.raises(ModelTimeoutException):
        run(consume())
    assert seen == [MessageStart()]


def test_timeout_falls_back_to_the_next_model():
    router, _ = fake_router(
        [{"name": "slow", "type": "fake", "delay_s": 5}, {"name": "up", "type": "fake", "reply": "fast"}],
        [
            {"id": "fake.slow-v1:0", "provider": "slow", "fallbacks": ["fake.fast-v1:0"], "timeout_s": 0.05},
            {"id": "fake.fast-v1:0", "provider": "up"},
        ],
    )
    assert run(collect(router.converse_stream(chat("fake.slow-v1:0")))).text == "fast"


def test_unexpected_provider_exception_becomes_model_error_without_its_text():
    router, _ = one_model()

    async def broken(request):
        raise KeyError("oops")
        yield  # pragma: no cover

    router.providers["echo"].converse_stream = broken
    with pytest.raises(ModelErrorException, match=r"fake\.echo-v1:0 failed unexpectedly") as info:
        run(drain(router.converse_stream(chat("fake.echo-v1:0"))))
    assert "KeyError" not in info.value.message and "oops" not in info.value.message


def _tool_call(*fragments: str, close: bool = True):
    async def stream(request):
        yield MessageStart()
        yield BlockStart(0, ToolUseStart("t1", "lookup"))
        for fragment in fragments:
            yield BlockDelta(0, tool_input=fragment)
        if close:
            yield BlockStop(0)
        yield MessageStop("tool_use")
        yield Metadata(Usage(3, 2))

    return stream


@pytest.mark.parametrize(
    ("fragments", "close"),
    [(['{"q": ', "tent"], True), (["[1, 2]"], True), (['{"q": NaN}'], True), (['{"q"'], False)],
)
def test_tool_input_that_is_not_a_json_object_is_a_model_error_from_any_provider(fragments, close):
    router, _ = one_model()
    router.providers["echo"].converse_stream = _tool_call(*fragments, close=close)  # a plug-in's bug
    with pytest.raises(ModelErrorException, match="tool 'lookup' with input that is not a JSON object"):
        run(collect(router.converse_stream(chat("fake.echo-v1:0"))))


def test_tool_input_fragments_that_form_an_object_pass():
    router, _ = one_model()
    router.providers["echo"].converse_stream = _tool_call('{"q": ', '"tent"}')
    response = run(collect(router.converse_stream(chat("fake.echo-v1:0"))))
    assert response.content == [{"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": "tent"}}}]


def test_embeddings_route_retry_and_fall_back():
    router, _ = fake_router(
        [
            {"name": "flaky", "type": "fake", "fail_times": 99, "fail_with": "ThrottlingException"},
            {"name": "up", "type": "fake", "embedding_dimensions": 8},
        ],
        [
            {
                "id": "fake.embed-v1:0",
                "provider": "flaky",
                "kind": "embedding",
                "fallbacks": ["fake.embed-v2:0"],
            },
            {"id": "fake.embed-v2:0", "provider": "up", "kind": "embedding"},
        ],
        max_attempts=2,
        base_delay_s=0,
    )
    result = run(router.embed("fake.embed-v1:0", ["a b", "c"]))
    assert len(result.vectors) == 2 and len(result.vectors[0]) == 8
    assert result.input_tokens == 3
    assert router.providers["flaky"].calls == 2


def test_stream_events_are_in_converse_order():
    router, _ = one_model()
    events = run(drain(router.converse_stream(chat("fake.echo-v1:0", "a b"))))
    assert isinstance(events[0], MessageStart)
    assert isinstance(events[-1], Metadata)
    assert "".join(e.text for e in events if isinstance(e, BlockDelta)) == "You said: a b"
