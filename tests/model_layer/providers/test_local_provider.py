"""The local provider against the real SmolLM2 GGUF model and MiniLM embeddings (no fakes)."""

from __future__ import annotations

import asyncio
import json

import jsonschema
import pytest

from model_layer.errors import ValidationException
from model_layer.providers.local import LocalProvider, LocalProviderConfig
from model_layer.types import BlockDelta, BlockStart, ChatRequest, MessageStop, ToolSpec, collect

pytestmark = pytest.mark.model

WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather for a city",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
)
SEARCH = ToolSpec(
    "search_products",
    "Search the product catalog",
    {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 10},
        },
        "required": ["query", "max_results"],
    },
)


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def local(loop):
    provider = LocalProvider(LocalProviderConfig(name="local", type="local", n_ctx=4096, n_parallel=2))
    yield provider
    loop.run_until_complete(provider.aclose())


def ask(text: str, **kw) -> ChatRequest:
    kw.setdefault("temperature", 0)  # greedy, so structural assertions cannot depend on sampling
    return ChatRequest(
        model_id="smollm2-135m-instruct", messages=[{"role": "user", "content": [{"text": text}]}], **kw
    )


def test_chat_streams_text_and_reports_usage(local, loop):
    response = loop.run_until_complete(collect(local.converse_stream(ask("Name a colour.", max_tokens=12))))
    assert response.text.strip()
    assert response.stop_reason in {"end_turn", "max_tokens"}
    assert 0 < response.usage.output_tokens <= 12
    assert response.usage.input_tokens + response.usage.cache_read_input_tokens > 5


def test_cache_point_writes_then_reads_the_prefix(local, loop):
    policy = "Strata Outdoor Gear returns: 30 days, receipt needed, tents must be dry and clean. " * 25
    usages, prompt_n = [], []
    for question in ("Can I return a wet tent?", "How long do I have to return boots?"):
        request = ChatRequest(
            model_id="smollm2-135m-instruct",
            system=[{"text": policy}, {"cachePoint": {"type": "default"}}],
            messages=[{"role": "user", "content": [{"text": question}]}],
            max_tokens=4,
        )
        usages.append(loop.run_until_complete(collect(local.converse_stream(request))).usage)
        prompt_n.append(local.last_timings["prompt_n"])
    first, second = usages
    assert first.cache_write_input_tokens > 300
    assert second.cache_read_input_tokens >= first.cache_write_input_tokens
    assert second.cache_write_input_tokens == 0
    # llama.cpp really skipped the cached prefix: far fewer prompt tokens were evaluated
    assert prompt_n[1] < prompt_n[0] / 5
    total_first = first.input_tokens + first.cache_write_input_tokens + first.cache_read_input_tokens
    assert total_first == prompt_n[0] + first.cache_read_input_tokens


def _only_tool_use(response):
    assert response.stop_reason == "tool_use"
    assert len(response.content) == 1
    return response.content[0]["toolUse"]


@pytest.mark.parametrize("choice", [{"any": {}}, {"tool": {"name": "search_products"}}])
def test_grammar_constrained_tool_call_matches_the_schema(local, loop, choice):
    request = ask(
        "Find me a waterproof tent, at most 3 results.",
        tools=[WEATHER, SEARCH],
        tool_choice=choice,
        max_tokens=200,
    )
    events = loop.run_until_complete(_events(local, request))
    starts = [e for e in events if isinstance(e, BlockStart) and e.tool_use]
    assert len(starts) == 1 and starts[0].tool_use.tool_use_id.startswith("tooluse_")
    fragments = "".join(e.tool_input for e in events if isinstance(e, BlockDelta) and e.tool_input)
    call_input = json.loads(fragments)
    name = starts[0].tool_use.name
    if "tool" in choice:
        assert name == "search_products"
    schema = {"get_weather": WEATHER, "search_products": SEARCH}[name].input_schema
    jsonschema.validate(call_input, schema)
    assert isinstance(events[-2], MessageStop) and events[-2].stop_reason == "tool_use"


def test_auto_tool_choice_yields_a_valid_call_or_text(local, loop):
    request = ask("What is the weather in Paris in celsius?", tools=[WEATHER, SEARCH], max_tokens=120)
    response = loop.run_until_complete(collect(local.converse_stream(request)))
    if response.stop_reason == "tool_use":
        use = _only_tool_use(response)
        schema = {"get_weather": WEATHER, "search_products": SEARCH}[use["name"]].input_schema
        jsonschema.validate(use["input"], schema)
    else:
        assert response.text


def test_json_schema_output_is_valid(local, loop):
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "price": {"type": "number"},
            "in_stock": {"type": "boolean"},
        },
        "required": ["name", "price", "in_stock"],
        "additionalProperties": False,
    }
    request = ask("Describe a tent product as JSON.", json_schema=schema, max_tokens=120)
    response = loop.run_until_complete(collect(local.converse_stream(request)))
    assert response.stop_reason == "end_turn"
    jsonschema.validate(json.loads(response.text), schema)


def test_images_are_rejected(local, loop):
    image = {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
    request = ChatRequest(
        model_id="m", messages=[{"role": "user", "content": [{"text": "what is it?"}, image]}]
    )
    with pytest.raises(ValidationException, match="does not support images"):
        loop.run_until_complete(collect(local.converse_stream(request)))


def test_abandoned_streams_free_their_slots(local, loop):
    async def abandon():
        stream = local.converse_stream(ask("Write a long story about a tent.", max_tokens=400))
        async for event in stream:
            if isinstance(event, BlockDelta):
                break
        await stream.aclose()

    async def scenario():
        for _ in range(3):  # more abandoned streams than the engine has slots
            await abandon()
        return await asyncio.wait_for(collect(local.converse_stream(ask("Say hi.", max_tokens=5))), 120)

    assert loop.run_until_complete(scenario()).usage.output_tokens > 0


def test_count_tokens_uses_the_chat_template(local, loop):
    short = loop.run_until_complete(local.count_tokens(ask("hi")))
    longer = loop.run_until_complete(local.count_tokens(ask("hi " * 50)))
    assert 0 < short < longer
    assert longer - short >= 45


def test_embeddings_are_384d_and_semantic(local, loop):
    result = loop.run_until_complete(
        local.embed("all-minilm-l6-v2", ["a tent for camping", "camping shelter", "tax law"])
    )
    tent, shelter, tax = result.vectors
    assert len(tent) == 384 and result.input_tokens > 0

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert dot(tent, shelter) > dot(tent, tax)


async def _events(provider, request):
    return [event async for event in provider.converse_stream(request)]


def test_prompt_longer_than_a_slot_fails_before_streaming(local, loop):
    seen = []

    async def consume():
        async for event in local.converse_stream(ask("tent " * 3000, max_tokens=5)):
            seen.append(event)

    with pytest.raises(ValidationException, match="context"):
        loop.run_until_complete(consume())
    assert seen == []
