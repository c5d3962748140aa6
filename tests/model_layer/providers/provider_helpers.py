"""Shared by the provider tests: build routers over fake providers, run coroutines, collect."""

from __future__ import annotations

import asyncio
from typing import Any

from model_layer.config import parse_config
from model_layer.providers.registry import ModelRouter
from model_layer.providers.resilience import RetryPolicy
from model_layer.types import ChatRequest


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


def chat(model_id: str, text: str = "hello there", **kw: Any) -> ChatRequest:
    return ChatRequest(model_id=model_id, messages=[user(text)], **kw)


class RecordingSleep:
    """An injectable ``sleep`` that records the backoff delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def fake_router(
    providers: list[dict], models: list[dict], **retry: Any
) -> tuple[ModelRouter, RecordingSleep]:
    config = parse_config({"providers": providers, "models": models, "retry": retry})
    sleep = RecordingSleep()
    policy = RetryPolicy.from_config(config.retry)
    policy.sleep = sleep
    return ModelRouter(config, retry=policy), sleep


async def drain(stream) -> list:
    return [event async for event in stream]


def run(coro):
    return asyncio.run(coro)
