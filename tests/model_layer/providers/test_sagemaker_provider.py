"""The SageMaker provider with boto3's real sagemaker-runtime client against the layer-1 container.

The container app (``infrastructure.runtime.container``) serves SageMaker-runtime's REST routes on
loopback, so botocore serialises requests and parses the binary event stream as against AWS. A
scripted chat backend keeps most tests deterministic; one test runs the real GGUF model.
"""

from __future__ import annotations

import json

import boto3
import pytest

from infrastructure.runtime.container import create_app
from infrastructure.runtime.engine import AsyncMethods
from infrastructure.runtime.errors import InvalidRequestError
from model_layer.errors import ModelStreamErrorException, ValidationException
from model_layer.providers.sagemaker import SageMakerProvider, SageMakerProviderConfig, json_lines
from model_layer.types import ToolSpec, collect
from tests.model_layer.providers.provider_helpers import chat, drain, run


class ScriptedChat(AsyncMethods):
    """A container chat backend that answers from a script (OpenAI chunk dicts)."""

    model_id = "scripted"

    def __init__(self):
        self.requests: list[dict] = []
        self.answer = "Hello from the endpoint"
        self.fail_mid_stream = False

    def chat(self, request):
        self.requests.append(request)
        return {
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 4, "completion_tokens": 4},
        }

    def stream_chat(self, request):
        self.requests.append(request)
        if request["messages"][-1]["content"] == "reject me":
            raise InvalidRequestError("the model rejected the request: too long", status_code=400)
        for i, word in enumerate(self.answer.split(" ")):
            if self.fail_mid_stream and i == 1:
                raise InvalidRequestError("engine crashed", status_code=500)
            yield {
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": (" " if i else "") + word}}],
            }
        yield {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        yield {
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {
                "prompt_tokens": 9,
                "completion_tokens": 4,
                "prompt_tokens_details": {"cached_tokens": 5},
            },
        }

    def count_tokens(self, value):
        return 42


@pytest.fixture
def scripted():
    return ScriptedChat()


@pytest.fixture
def endpoint(live_server, scripted):
    with live_server(create_app(scripted, None)) as url:
        client = boto3.client("sagemaker-runtime", region_name="us-east-1", endpoint_url=url)
        provider = SageMakerProvider(SageMakerProviderConfig(name="sm", type="sagemaker"), client=client)
        yield provider
        run(provider.aclose())


def test_streams_through_invoke_endpoint_with_response_stream(endpoint, scripted):
    response = run(collect(endpoint.converse_stream(chat("strata-local", "hi", max_tokens=9))))
    assert response.text == "Hello from the endpoint"
    assert response.stop_reason == "end_turn"
    # no cachePoint: the whole prompt is input (as on Bedrock); the reuse stays in the metrics
    assert (response.usage.input_tokens, response.usage.cache_read_input_tokens) == (9, 0)
    assert response.usage.engine_cached_tokens == 5
    sent = scripted.requests[0]
    assert sent["messages"] == [{"role": "user", "content": "hi"}] and sent["max_tokens"] == 9


def test_container_4xx_is_a_validation_error(endpoint):
    with pytest.raises(ValidationException, match="too long"):
        run(drain(endpoint.converse_stream(chat("strata-local", "reject me"))))


def test_mid_stream_failure_is_a_model_stream_error(endpoint, scripted):
    scripted.fail_mid_stream = True
    with pytest.raises(ModelStreamErrorException):
        run(drain(endpoint.converse_stream(chat("strata-local"))))


def test_grammar_tool_call_through_the_container(endpoint, scripted):
    scripted.answer = json.dumps({"name": "lookup", "input": {"q": "tent"}})
    tool = ToolSpec("lookup", "find", {"type": "object", "properties": {"q": {"type": "string"}}})
    response = run(
        collect(endpoint.converse_stream(chat("strata-local", tools=[tool], tool_choice={"any": {}})))
    )
    assert response.stop_reason == "tool_use"
    assert response.content[0]["toolUse"]["input"] == {"q": "tent"}
    assert scripted.requests[0]["response_format"]["type"] == "json_schema"


def test_count_tokens_uses_the_container_contract(endpoint):
    assert run(endpoint.count_tokens(chat("strata-local"))) == 42


def test_json_lines_across_part_boundaries():
    parts = [b'{"a": 1}\n{"b"', b': 2}\ndata: {"c": 3}\n\ndata: [DONE]\n']
    assert list(json_lines(iter(parts))) == [{"a": 1}, {"b": 2}, {"c": 3}]
    with pytest.raises(ModelStreamErrorException) as info:
        list(json_lines(iter([b'{"error": {"message": "boom at http://10.0.0.7/x"}}\n'])))
    assert "boom" not in info.value.message and "10.0.0.7" not in info.value.message


@pytest.mark.model
def test_real_model_behind_the_container(live_server):
    from infrastructure.runtime.embeddings import EmbeddingEngine
    from infrastructure.runtime.engine import ChatEngine, EngineConfig

    engine = ChatEngine(EngineConfig(n_ctx=2048, n_parallel=1))
    embedder = EmbeddingEngine()
    try:
        with live_server(create_app(engine, embedder)) as url:
            client = boto3.client("sagemaker-runtime", region_name="us-east-1", endpoint_url=url)
            provider = SageMakerProvider(SageMakerProviderConfig(name="sm", type="sagemaker"), client=client)
            response = run(
                collect(provider.converse_stream(chat("strata-local", "Say hello.", max_tokens=8)))
            )
            assert response.text and 0 < response.usage.output_tokens <= 8
            vectors = run(provider.embed("strata-local", ["tent", "boots"]))
            assert len(vectors.vectors) == 2 and len(vectors.vectors[0]) == 384
            run(provider.aclose())
    finally:
        engine.close()
        embedder.close()
