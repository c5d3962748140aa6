"""The local llama.cpp chat engine, with real inference on the packaged SmolLM2-135M."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import pytest

from infrastructure.runtime.engine import (
    ChatBackend,
    ChatEngine,
    EngineConfig,
    create_chat_engine,
)
from infrastructure.runtime.errors import EngineClosedError, InvalidRequestError
from infrastructure.runtime.openai_client import OpenAICompatibleClient
from infrastructure.runtime.settings import RuntimeSettings
from infrastructure.runtime.weights import ModelFileError

pytestmark = pytest.mark.model

GREEDY = {"temperature": 0, "seed": 7}


def ask(text: str, **extra) -> dict:
    return {"messages": [{"role": "user", "content": text}], **GREEDY, **extra}


def test_chat_returns_an_openai_completion_with_usage(chat_engine):
    response = chat_engine.chat(ask("Name a colour.", max_tokens=12))
    assert response["object"] == "chat.completion"
    assert response["model"] == "SmolLM2-135M-Instruct.Q4_1"
    message = response["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"].strip()
    usage = response["usage"]
    assert 0 < usage["completion_tokens"] <= 12
    assert usage["prompt_tokens"] == chat_engine.count_tokens([{"role": "user", "content": "Name a colour."}])


def test_stream_yields_the_same_text_as_chat(chat_engine):
    request = ask("Write one sentence about the sea.", max_tokens=24)
    whole = chat_engine.chat(request)["choices"][0]["message"]["content"]
    chunks = list(chat_engine.stream_chat(request))
    streamed = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    assert streamed == whole
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert not any(c.get("usage") for c in chunks)  # the caller did not ask for usage


def test_stream_reports_usage_when_asked(chat_engine):
    request = ask("Hi", max_tokens=5, stream_options={"include_usage": True})
    last = list(chat_engine.stream_chat(request))[-1]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 5


def test_prefix_cache_reuses_a_shared_prefix_and_counts_it(chat_engine):
    prefix = "You are a librarian. " + " ".join(
        f"Rule {i}: keep book {i} on shelf {i % 7}." for i in range(60)
    )
    before = chat_engine.cache_stats()
    first = chat_engine.chat(
        {
            "messages": [{"role": "system", "content": prefix}, {"role": "user", "content": "A?"}],
            "max_tokens": 2,
        }
    )
    second = chat_engine.chat(
        {
            "messages": [{"role": "system", "content": prefix}, {"role": "user", "content": "B?"}],
            "max_tokens": 2,
        }
    )
    prompt = second["usage"]["prompt_tokens"]
    cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert prompt > 500 and cached > 0.9 * prompt  # all but the question is reused
    after = chat_engine.cache_stats()
    assert after["requests"] - before["requests"] == 2
    assert after["cached_tokens"] - before["cached_tokens"] >= cached
    assert after["last_cached_tokens"] == cached
    assert first["usage"]["prompt_tokens_details"]["cached_tokens"] < cached


def test_json_schema_output_is_valid_json_matching_the_schema(chat_engine):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    response = chat_engine.chat(
        ask(
            "Give a city and its population as JSON.",
            max_tokens=80,
            response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
        )
    )
    data = json.loads(response["choices"][0]["message"]["content"])
    assert set(data) == {"city", "population"}
    assert isinstance(data["city"], str) and isinstance(data["population"], int)


def test_count_tokens_for_text_and_messages(chat_engine):
    assert chat_engine.count_tokens("Hello world") == 2
    assert chat_engine.count_tokens("") == 0
    messages = [{"role": "user", "content": "Hello world"}]
    # The chat template adds the default system prompt and role markers around the text.
    assert chat_engine.count_tokens(messages) > 10


def test_concurrent_async_requests_share_the_batch_without_blocking_the_loop(chat_engine):
    async def scenario():
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        tick_task = asyncio.create_task(ticker())
        results = await asyncio.gather(
            *(chat_engine.achat(ask(f"Tell me fact {i}.", max_tokens=16, ignore_eos=True)) for i in range(3))
        )
        done.set()
        await tick_task
        return ticks, results

    ticks, results = asyncio.run(scenario())
    assert [r["usage"]["completion_tokens"] for r in results] == [16, 16, 16]
    assert ticks > 100  # the loop kept running while llama.cpp decoded


def test_async_stream_collects_chunks(chat_engine):
    async def collect():
        return [c async for c in chat_engine.astream_chat(ask("Say hello", max_tokens=6))]

    chunks = asyncio.run(collect())
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) >= 1


def _predicted_total(engine: ChatEngine) -> float:
    match = re.search(r"^llamacpp:tokens_predicted_total (\S+)$", engine.metrics(), re.M)
    assert match, "llama.cpp metrics lack tokens_predicted_total"
    return float(match.group(1))


def test_closing_a_stream_cancels_generation_and_frees_the_slot():
    # One slot: the follow-up request can only run once the abandoned one has released it.
    with ChatEngine(EngineConfig(n_ctx=4096, n_parallel=1, n_threads=2)) as engine:
        stream = engine.stream_chat(ask("Count forever.", max_tokens=3000, ignore_eos=True))
        for index, _ in enumerate(stream):
            if index == 3:
                break
        stream.close()
        follow_up = engine.chat(ask("Hi", max_tokens=4))
        assert follow_up["usage"]["completion_tokens"] == 4
        assert _predicted_total(engine) < 200  # far from the 3,000 tokens the first one asked for


def test_async_stream_cancellation_frees_the_slot():
    with ChatEngine(EngineConfig(n_ctx=4096, n_parallel=1, n_threads=2)) as engine:

        async def abandon():
            stream = engine.astream_chat(ask("Count forever.", max_tokens=3000, ignore_eos=True))
            async for index, _ in _enumerate(stream):
                if index == 2:
                    break
            await stream.aclose()
            return await engine.achat(ask("Hi", max_tokens=3))

        assert asyncio.run(abandon())["usage"]["completion_tokens"] == 3
        assert _predicted_total(engine) < 200


def test_cancel_stops_a_stream_from_any_thread_and_frees_the_slot():
    # The gateway cancels from its event loop while the stream's reader is blocked in next():
    # cancel() must not need the reader's help, and must end the stream, not leave it hanging.
    with ChatEngine(EngineConfig(n_ctx=4096, n_parallel=1, n_threads=2)) as engine:
        never_started = engine.stream_chat(ask("Count forever.", max_tokens=3000, ignore_eos=True))
        never_started.cancel()
        assert list(never_started) == []  # cancelled before its first chunk: llama.cpp never saw it
        stream = engine.stream_chat(ask("Count forever.", max_tokens=3000, ignore_eos=True))
        next(stream)
        canceller = threading.Thread(target=stream.cancel)
        canceller.start()
        canceller.join()
        assert len(list(stream)) < 200  # the stream ends by itself, far from 3,000 tokens
        assert engine.chat(ask("Hi", max_tokens=4))["usage"]["completion_tokens"] == 4  # one slot: freed
        assert _predicted_total(engine) < 200


async def _enumerate(aiterable):
    index = 0
    async for item in aiterable:
        yield index, item
        index += 1


@pytest.mark.parametrize(
    ("request_body", "fragment"),
    [
        ({"messages": []}, "non-empty list"),
        ({"messages": [{"content": "no role"}]}, "role"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "role"),
        ({"messages": "hello"}, "non-empty list"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}, "max_tokens"),
    ],
)
def test_bad_requests_raise_one_clear_error(chat_engine, request_body, fragment):
    with pytest.raises(InvalidRequestError, match=fragment) as info:
        chat_engine.chat(request_body)
    assert info.value.status_code == 400
    with pytest.raises(InvalidRequestError, match=fragment):
        list(chat_engine.stream_chat(request_body))


def test_raw_completion(chat_engine):
    response = chat_engine.complete({"prompt": "The capital of France is", "max_tokens": 4, **GREEDY})
    assert response["object"] == "text_completion" and response["choices"][0]["text"]


def test_corrupt_and_missing_gguf_are_clear_errors(tmp_path):
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelFileError, match="could not load"):
        ChatEngine(EngineConfig(model_path=str(truncated), n_ctx=512, n_parallel=1))
    not_gguf = tmp_path / "model.bin"
    not_gguf.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(ModelFileError, match="not a GGUF model"):
        ChatEngine(EngineConfig(model_path=str(not_gguf)))
    with pytest.raises(ModelFileError, match="not found"):
        ChatEngine(EngineConfig(model_path=str(tmp_path / "absent.gguf")))


def test_closed_engine_refuses_work():
    engine = ChatEngine(EngineConfig(n_ctx=512, n_parallel=1, n_threads=2))
    engine.close()
    engine.close()  # idempotent
    with pytest.raises(EngineClosedError):
        engine.chat(ask("hi"))


def test_create_chat_engine_picks_the_backend_from_settings(chat_engine):
    remote = create_chat_engine(
        RuntimeSettings(openai_base_url=chat_engine.openai_base_url, openai_api_key="k")
    )
    assert isinstance(remote, OpenAICompatibleClient) and isinstance(remote, ChatBackend)
    remote.close()
    assert isinstance(chat_engine, ChatBackend)
