"""The knowledge-base service as a FastAPI dependency, and its life cycle with the app.

:data:`knowledge_lifespan` is the lifespan of the knowledge routers: it builds the replica's
:class:`~model_layer.knowledge.KnowledgeService` on the gateway's shared state and model service,
starts its ingestion-job runner (which resumes jobs a dead replica left), and stops it on
shutdown. FastAPI merges a router's lifespan into the app's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request

from model_layer.errors import ServiceUnavailableException
from model_layer.knowledge import KnowledgeService


@asynccontextmanager
async def knowledge_lifespan(app: Any) -> AsyncIterator[None]:
    gateway = getattr(app.state, "gateway", None)
    if gateway is None or getattr(app.state, "knowledge", None) is not None:
        yield  # a bare test app without state, or a service injected by the caller
        return
    from model_layer.knowledge.settings import KnowledgeSettings

    settings = app.state.settings
    knowledge = KnowledgeService(
        gateway.keystore.state.db,
        app.state.service,
        KnowledgeSettings(),
        settings.state_dir(),
        region=settings.region or "us-east-1",
    )
    app.state.knowledge = knowledge
    await knowledge.start()
    try:
        yield
    finally:
        await knowledge.aclose()
        app.state.knowledge = None


async def get_knowledge(request: Request) -> KnowledgeService:
    knowledge = getattr(request.app.state, "knowledge", None)
    if knowledge is None:
        raise ServiceUnavailableException("Knowledge bases are not available on this gateway")
    return knowledge


KnowledgeDep = Annotated[KnowledgeService, Depends(get_knowledge)]
