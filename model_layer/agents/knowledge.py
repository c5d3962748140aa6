"""The agents' view of knowledge bases: does one exist for the tenant, and look something up in it.

Agents use knowledge bases through :mod:`model_layer.knowledge`'s small public interface (the
layer below). :class:`KnowledgeBases` adapts it: an association (AssociateAgentKnowledgeBase,
an inline agent's ``knowledgeBases``) must name a knowledge base of the tenant, and a lookup
returns Bedrock ``RetrievedReference`` dicts (``content``, ``location``, ``metadata``), which the
loop shows the model as numbered passages and cites in the answer.
"""

from __future__ import annotations

from typing import Any

from model_layer.errors import ValidationException
from model_layer.types import Tenant

DEFAULT_RESULTS = 5


class KnowledgeBases:
    """Knowledge-base access for agents, over the gateway's knowledge-base service.

    ``service`` is :class:`model_layer.knowledge.KnowledgeService`, or a callable returning it (the
    service is built with the app's lifespan, after the agents), or None when there is none.
    """

    def __init__(self, service: Any = None):
        self._service = service

    def _require(self) -> Any:
        service = self._service() if callable(self._service) else self._service
        if service is None:
            raise ValidationException("Knowledge bases are not available on this gateway")
        return service

    async def check_exists(self, tenant: Tenant, knowledge_base_id: str) -> None:
        """``ResourceNotFoundException`` unless the tenant has this knowledge base."""
        await self._require().get_knowledge_base(tenant, knowledge_base_id)

    async def retrieve(
        self, tenant: Tenant, knowledge_base_id: str, text: str, configuration: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        service = self._require()
        vector = (configuration or {}).get("vectorSearchConfiguration") or {}
        results = await service.retrieve(
            tenant,
            knowledge_base_id,
            text,
            number_of_results=vector.get("numberOfResults", DEFAULT_RESULTS),
            search_type=vector.get("overrideSearchType"),
            filter=vector.get("filter"),
        )
        return [reference(result) for result in results]


def reference(result: Any) -> dict[str, Any]:
    """A retrieval result as a ``RetrievedReference`` (``content``, ``location``, ``metadata``)."""
    if hasattr(result, "reference"):
        return result.reference()
    get = result.get if isinstance(result, dict) else lambda key, default=None: getattr(result, key, default)
    ref: dict[str, Any] = {
        "content": get("content") or {"text": ""},
        "location": get("location") or {"type": "CUSTOM"},
    }
    metadata = get("metadata")
    if metadata:
        ref["metadata"] = metadata
    return ref


def passages(references: list[dict[str, Any]]) -> str:
    """Retrieved passages as the model reads them (numbered, so it can say which it used)."""
    if not references:
        return "No passages found."
    return "\n\n".join(
        f"[{i}] {ref.get('content', {}).get('text', '')}" for i, ref in enumerate(references, start=1)
    )
