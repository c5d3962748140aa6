"""InvokeModel chat body families: Amazon Titan text, Meta Llama, Amazon Nova (Converse-shaped).

Each family translates its model-native request into a :class:`ChatRequest` (Converse blocks),
a collected :class:`ChatResponse` back into its native response, and stream events into its
native stream chunks. The formats are documented in ``model_layer.wire.invoke``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from model_layer.errors import ValidationException
from model_layer.types import (
    BlockDelta,
    ChatRequest,
    ChatResponse,
    MessageStop,
    Metadata,
    ModelInfo,
    StopReason,
    StreamEvent,
)
from model_layer.wire.converse import chat_request_from_converse, converse_stream_event, usage_json
from model_layer.wire.native import NUMBER_0_1, STRINGS, ChunkStream
from model_layer.wire.validate import check_converse, validate_input

# --- Amazon Titan text ------------------------------------------------------------------------

_TITAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["inputText"],
    "additionalProperties": False,
    "properties": {
        "inputText": {"type": "string", "minLength": 1},
        "textGenerationConfig": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "maxTokenCount": {"type": "integer", "minimum": 0},
                "temperature": NUMBER_0_1,
                "topP": NUMBER_0_1,
                "stopSequences": STRINGS,
            },
        },
    },
}
_TITAN_REASON = {
    "max_tokens": "LENGTH",
    "model_context_window_exceeded": "LENGTH",
    "stop_sequence": "STOP_CRITERIA_MET",
    "content_filtered": "CONTENT_FILTERED",
    "guardrail_intervened": "CONTENT_FILTERED",
}


class TitanText:
    """``inputText`` + ``textGenerationConfig`` → ``results[0].outputText``, ``completionReason``."""

    name: ClassVar[str] = "titan-text"
    kind: ClassVar[str] = "chat"
    schema: ClassVar[dict[str, Any]] = _TITAN_SCHEMA

    def to_request(self, model_id: str, body: dict[str, Any]) -> ChatRequest:
        config = body.get("textGenerationConfig") or {}
        return ChatRequest(
            model_id=model_id,
            messages=[{"role": "user", "content": [{"text": body["inputText"]}]}],
            max_tokens=config.get("maxTokenCount") or None,
            temperature=config.get("temperature"),
            top_p=config.get("topP"),
            stop_sequences=list(config.get("stopSequences") or []),
        )

    def to_response(self, model: ModelInfo, response: ChatResponse) -> dict[str, Any]:
        return {
            "inputTextTokenCount": response.usage.input_tokens,
            "results": [
                {
                    "tokenCount": response.usage.output_tokens,
                    "outputText": response.text,
                    "completionReason": _TITAN_REASON.get(response.stop_reason, "FINISH"),
                }
            ],
        }

    def stream(self, model: ModelInfo) -> ChunkStream:
        return _TextStream(self._chunk, self._final)

    @staticmethod
    def _chunk(text: str, count: int) -> dict[str, Any]:
        return {
            "outputText": text,
            "index": 0,
            "totalOutputTextTokenCount": None,
            "completionReason": None,
            "inputTextTokenCount": None,
        }

    @staticmethod
    def _final(stop: StopReason, event: Metadata) -> dict[str, Any]:
        return {
            "outputText": "",
            "index": 0,
            "totalOutputTextTokenCount": event.usage.output_tokens,
            "completionReason": _TITAN_REASON.get(stop, "FINISH"),
            "inputTextTokenCount": event.usage.input_tokens,
        }


class _TextStream:
    """Text-only streams (Titan, Llama): one chunk per text delta, then a final chunk with counts."""

    def __init__(self, chunk, final):
        self.chunk, self.final = chunk, final
        self.count = 0
        self.stop: StopReason = "end_turn"

    def translate(self, event: StreamEvent) -> list[dict[str, Any]]:
        if isinstance(event, BlockDelta) and event.text:
            self.count += 1
            return [self.chunk(event.text, self.count)]
        if isinstance(event, MessageStop):
            self.stop = event.stop_reason
        elif isinstance(event, Metadata):
            return [self.final(self.stop, event)]
        return []


# --- Meta Llama ---------------------------------------------------------------------------------

_LLAMA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "additionalProperties": False,
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "max_gen_len": {"type": "integer", "minimum": 1},
        "temperature": NUMBER_0_1,
        "top_p": NUMBER_0_1,
    },
}
# Llama 3 chat template: <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
_LLAMA3_TURN = re.compile(
    r"<\|start_header_id\|>(system|user|assistant)<\|end_header_id\|>\s*(.*?)\s*(?:<\|eot_id\|>|$)", re.S
)
# Llama 2: <s>[INST] <<SYS>> system <</SYS>> user [/INST] answer </s>
_LLAMA2_INST = re.compile(r"\[INST\](.*?)\[/INST\]", re.S)
_LLAMA2_SYS = re.compile(r"<<SYS>>(.*?)<</SYS>>", re.S)


class MetaLlama:
    """``prompt`` (+ ``max_gen_len``) → ``generation``, token counts, ``stop_reason``.

    A prompt in a Llama 2 or 3 chat template is split back into its turns, so the serving model
    applies its own template; any other prompt is one user turn.
    """

    name: ClassVar[str] = "llama"
    kind: ClassVar[str] = "chat"
    schema: ClassVar[dict[str, Any]] = _LLAMA_SCHEMA

    def to_request(self, model_id: str, body: dict[str, Any]) -> ChatRequest:
        system, messages = llama_turns(body["prompt"])
        return ChatRequest(
            model_id=model_id,
            messages=messages,
            system=system,
            max_tokens=body.get("max_gen_len"),
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
        )

    def to_response(self, model: ModelInfo, response: ChatResponse) -> dict[str, Any]:
        return {
            "generation": response.text,
            "prompt_token_count": response.usage.input_tokens,
            "generation_token_count": response.usage.output_tokens,
            "stop_reason": _llama_reason(response.stop_reason),
        }

    def stream(self, model: ModelInfo) -> ChunkStream:
        return _TextStream(self._chunk, self._final)

    @staticmethod
    def _chunk(text: str, count: int) -> dict[str, Any]:
        return {
            "generation": text,
            "prompt_token_count": None,
            "generation_token_count": count,
            "stop_reason": None,
        }

    @staticmethod
    def _final(stop: StopReason, event: Metadata) -> dict[str, Any]:
        return {
            "generation": "",
            "prompt_token_count": event.usage.input_tokens,
            "generation_token_count": event.usage.output_tokens,
            "stop_reason": _llama_reason(stop),
        }


def _llama_reason(stop: StopReason) -> str:
    return "length" if stop in ("max_tokens", "model_context_window_exceeded") else "stop"


def llama_turns(prompt: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A Llama prompt → (system blocks, Converse messages).

    Llama 3 (header tokens) and Llama 2 (``[INST]``/``<<SYS>>``) chat templates are split back into
    turns; consecutive turns of one role are merged (Converse alternates); anything else is one
    user turn.
    """
    turns = _llama3_turns(prompt) or _llama2_turns(prompt)
    if not turns:
        return [], [{"role": "user", "content": [{"text": prompt}]}]
    system = [{"text": text} for role, text in turns if role == "system"]
    messages: list[dict[str, Any]] = []
    for role, text in turns:
        if role == "system":
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].append({"text": text})
        else:
            messages.append({"role": role, "content": [{"text": text}]})
    if not messages or messages[0]["role"] != "user":
        raise ValidationException("Malformed input request: #/prompt: the prompt contains no user turn first")
    return system, messages


def _llama3_turns(prompt: str) -> list[tuple[str, str]]:
    return [(role, text) for role, text in _LLAMA3_TURN.findall(prompt) if text]


def _llama2_turns(prompt: str) -> list[tuple[str, str]]:
    if "[INST]" not in prompt:
        return []
    turns = [("system", m.strip()) for m in _LLAMA2_SYS.findall(prompt) if m.strip()]
    body = _LLAMA2_SYS.sub("", prompt).replace("<s>", "").replace("</s>", "")
    position = 0
    for match in _LLAMA2_INST.finditer(body):
        answer = body[position : match.start()].strip()
        if answer:  # text between [/INST] and the next [INST] is the model's earlier answer
            turns.append(("assistant", answer))
        if match.group(1).strip():
            turns.append(("user", match.group(1).strip()))
        position = match.end()
    if body[position:].strip():
        turns.append(("assistant", body[position:].strip()))  # a prefilled answer
    return turns


# --- Amazon Nova (Converse-shaped bodies) -------------------------------------------------------

_NOVA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["messages"],
    "additionalProperties": False,
    "properties": {
        "schemaVersion": {"const": "messages-v1"},
        "messages": {"type": "array"},
        "system": {"type": "array"},
        "toolConfig": {"type": "object"},
        "inferenceConfig": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_new_tokens": {"type": "integer", "minimum": 1},
                "maxTokens": {"type": "integer", "minimum": 1},
                "temperature": NUMBER_0_1,
                "top_p": NUMBER_0_1,
                "topP": NUMBER_0_1,
                "top_k": {"type": "integer", "minimum": 0},
                "topK": {"type": "integer", "minimum": 0},
                "stopSequences": STRINGS,
            },
        },
    },
}


class NovaMessages:
    """Converse-shaped bodies (Amazon Nova's ``messages-v1``): the default for gateway models."""

    name: ClassVar[str] = "converse"
    kind: ClassVar[str] = "chat"
    schema: ClassVar[dict[str, Any]] = _NOVA_SCHEMA

    def to_request(self, model_id: str, body: dict[str, Any]) -> ChatRequest:
        converse = {k: body[k] for k in ("messages", "system", "toolConfig") if k in body}
        validate_input("bedrock-runtime", "Converse", converse, {"modelId": model_id})
        check_converse(converse)
        config = body.get("inferenceConfig") or {}
        top_k = config.get("top_k", config.get("topK"))
        converse["inferenceConfig"] = {
            k: v
            for k, v in {
                "maxTokens": config.get("max_new_tokens", config.get("maxTokens")),
                "temperature": config.get("temperature"),
                "topP": config.get("top_p", config.get("topP")),
                "stopSequences": config.get("stopSequences"),
            }.items()
            if v is not None
        }
        if top_k is not None:
            converse["additionalModelRequestFields"] = {"top_k": top_k}
        return chat_request_from_converse(model_id, converse)

    def to_response(self, model: ModelInfo, response: ChatResponse) -> dict[str, Any]:
        return {
            "output": {"message": {"role": "assistant", "content": response.content}},
            "stopReason": response.stop_reason,
            "usage": _nova_usage(response.usage),
        }

    def stream(self, model: ModelInfo) -> ChunkStream:
        return _NovaStream()


def _nova_usage(usage) -> dict[str, int]:
    out = usage_json(usage)
    return {
        "inputTokens": out["inputTokens"],
        "outputTokens": out["outputTokens"],
        "totalTokens": out["totalTokens"],
        "cacheReadInputTokenCount": usage.cache_read_input_tokens,
        "cacheWriteInputTokenCount": usage.cache_write_input_tokens,
    }


class _NovaStream:
    """Each chunk is one Converse stream event keyed by its name (``{"contentBlockDelta": {...}}``)."""

    def translate(self, event: StreamEvent) -> list[dict[str, Any]]:
        if isinstance(event, Metadata):
            return [{"metadata": {"usage": _nova_usage(event.usage), "metrics": {}, "trace": {}}}]
        pair = converse_stream_event(event)
        return [] if pair is None else [{pair[0]: pair[1]}]
