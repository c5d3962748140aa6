"""The request schema of ``POST /invocations`` and pure translations to and from the engines.

Four request kinds, told apart by their keys (see README.md in this package):

=====================  ======================================  ==================================
kind                   body                                    response
=====================  ======================================  ==================================
chat (OpenAI)          ``{"messages": [...], ...}``            ``chat.completion`` object
generate (TGI)         ``{"inputs": "...", "parameters": {}}``  ``[{"generated_text": ..}]``
embed                  ``{"input": "..." | ["...", ...]}``      OpenAI ``list`` of embeddings
count tokens           ``{"count_tokens": "..." | [msgs]}``     ``{"input_tokens": n}``
=====================  ======================================  ==================================
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infrastructure.runtime.errors import InvalidRequestError

Kind = Literal["chat", "generate", "embed", "count_tokens"]


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatInvocation(BaseModel):
    """OpenAI chat-completions body; every other OpenAI field passes through to the engine."""

    model_config = ConfigDict(extra="allow")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False


class TGIParameters(BaseModel):
    """The Text Generation Inference parameters strata honours (others are rejected)."""

    model_config = ConfigDict(extra="forbid")
    max_new_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    repetition_penalty: float | None = Field(None, gt=0)
    stop: list[str] | None = None
    seed: int | None = None
    do_sample: bool | None = None
    return_full_text: bool = False
    details: bool = False
    grammar: dict[str, Any] | None = None  # TGI: {"type": "json", "value": <JSON schema>}


class GenerateInvocation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: str
    parameters: TGIParameters = TGIParameters()
    stream: bool = False


class EmbedInvocation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: str | list[str]
    model: str | None = None


class CountTokensInvocation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count_tokens: str | list[Message]


_MODELS: dict[Kind, type[BaseModel]] = {
    "chat": ChatInvocation,
    "generate": GenerateInvocation,
    "embed": EmbedInvocation,
    "count_tokens": CountTokensInvocation,
}
_KEYS: dict[str, Kind] = {
    "messages": "chat",
    "inputs": "generate",
    "input": "embed",
    "count_tokens": "count_tokens",
}


def parse_invocation(body: Any) -> tuple[Kind, BaseModel]:
    """Classify and validate a request body; a clear :class:`InvalidRequestError` otherwise."""
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    kinds = {_KEYS[key] for key in body if key in _KEYS}
    if len(kinds) != 1:
        raise InvalidRequestError(
            "the body needs exactly one of 'messages' (chat), 'inputs' (TGI generate), "
            "'input' (embeddings) or 'count_tokens'"
        )
    kind = kinds.pop()
    try:
        return kind, _MODELS[kind].model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidRequestError(f"invalid {kind} request: {where}: {first['msg']}") from None


def chat_request(invocation: ChatInvocation) -> dict:
    """The engine request for a chat invocation (``stream`` is decided by the caller)."""
    return invocation.model_dump(exclude_none=True, exclude={"stream"})


def completion_request(invocation: GenerateInvocation) -> dict:
    """TGI ``inputs``/``parameters`` → an OpenAI-style raw completion request."""
    p = invocation.parameters
    request: dict[str, Any] = {"prompt": invocation.inputs}
    renames = {"max_new_tokens": "max_tokens", "repetition_penalty": "repeat_penalty"}
    for name in ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop", "seed"):
        value = getattr(p, name)
        if value is not None:
            request[renames.get(name, name)] = value
    if p.do_sample is False:
        request["temperature"] = 0.0  # TGI's greedy decoding
    if p.grammar is not None:
        if p.grammar.get("type") != "json":
            raise InvalidRequestError("parameters.grammar supports only {'type': 'json', 'value': <schema>}")
        request["json_schema"] = p.grammar.get("value") or {}
    return request


_TGI_FINISH = {"stop": "eos_token", "length": "length"}


def tgi_response(invocation: GenerateInvocation, completion: dict) -> list[dict]:
    """An OpenAI completion → TGI's ``[{"generated_text": ...}]`` (SageMaker TGI containers)."""
    choice = completion["choices"][0]
    text = choice.get("text") or ""
    if invocation.parameters.return_full_text:
        text = invocation.inputs + text
    result: dict[str, Any] = {"generated_text": text}
    if invocation.parameters.details:
        usage = completion.get("usage") or {}
        result["details"] = {
            "finish_reason": _TGI_FINISH.get(choice.get("finish_reason") or "", "stop_sequence"),
            "generated_tokens": usage.get("completion_tokens"),
            "prompt_tokens": usage.get("prompt_tokens"),
        }
    return [result]


def tgi_stream_event(chunk: dict, index: int, text_so_far: str) -> dict | None:
    """A completion chunk → TGI's stream event; the last one carries ``generated_text``."""
    choices = chunk.get("choices") or []
    if not choices:
        return None
    choice = choices[0]
    finished = choice.get("finish_reason") is not None
    return {
        "index": index,
        "token": {"id": index, "text": choice.get("text") or "", "logprob": None, "special": False},
        "generated_text": text_so_far if finished else None,
        "details": {"finish_reason": _TGI_FINISH.get(choice["finish_reason"], "stop_sequence")}
        if finished
        else None,
    }


def embeddings_response(vectors: list[list[float]], token_counts: list[int], model: str) -> dict:
    """OpenAI's embeddings response shape."""
    total = sum(token_counts)
    return {
        "object": "list",
        "model": model,
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": total, "total_tokens": total},
    }
