"""Guardrails with Amazon Bedrock's semantics: policies as plug-ins, the engine, the control plane.

The public interface other subsystems call (knowledge bases, agents) is one method of the
:class:`Guardrails` object every gateway holds as ``service.guardrails``::

    result = await service.guardrails.apply_guardrail(
        tenant, "abc123def456", "DRAFT",            # id or ARN; "DRAFT" or "1", "2", …
        "INPUT",                                    # or "OUTPUT"
        [{"text": {"text": "…", "qualifiers": ["guard_content"]}}],  # ApplyGuardrail's content
        operation="RetrieveAndGenerate", request_id=rid,             # recorded with the text units
    )
    result.action        # "GUARDRAIL_INTERVENED" | "NONE"
    result.blocked       # True: replace the text by result.outputs[0]["text"] (the blocked message)
    result.texts         # the checked texts after masking ({EMAIL}, {NAME}, …), in content order
    result.assessments   # Bedrock's GuardrailAssessment list; result.usage: text units per policy
    result.apply_response()  # ApplyGuardrail's JSON

It raises ``ResourceNotFoundException`` for a guardrail or version the tenant does not have and
``ValidationException`` for malformed content. Policies register in the
``strata.guardrail_policies`` entry-point group (:mod:`model_layer.plugins`); definitions,
versions and text-unit usage live in the shared state (:mod:`~model_layer.guardrails.store`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

from model_layer.errors import ValidationException
from model_layer.guardrails.engine import (
    INTERVENED,
    NONE,
    CompiledGuardrail,
    GuardrailResult,
    compile_guardrail,
)
from model_layer.guardrails.policies.base import Source, TextBlock
from model_layer.guardrails.resources import GuardrailResources
from model_layer.guardrails.store import DRAFT, GuardrailStore, UnitsRecord
from model_layer.types import Tenant
from model_layer.wire.validate import validate_input

__all__ = [
    "DRAFT",
    "INTERVENED",
    "NONE",
    "GuardrailResult",
    "Guardrails",
    "TextBlock",
]

_CACHE_SIZE = 256


class Guardrails:
    """A gateway's guardrails: the tenant-scoped store, compiled versions, and applying them."""

    def __init__(
        self,
        store: GuardrailStore,
        *,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        resources: GuardrailResources | None = None,
    ):
        self.store = store
        self.region, self.account_id = region, account_id
        self.resources = resources or GuardrailResources()
        self._compiled: OrderedDict[tuple[str, str, str, int], CompiledGuardrail] = OrderedDict()

    def arn(self, guardrail_id: str) -> str:
        return f"arn:aws:bedrock:{self.region}:{self.account_id}:guardrail/{guardrail_id}"

    @staticmethod
    def parse_identifier(identifier: str) -> str:
        """A guardrail id from an id or a guardrail ARN (``…:guardrail/<id>``)."""
        if identifier.startswith("arn:"):
            _, _, tail = identifier.partition(":guardrail/")
            return tail
        return identifier

    async def apply_guardrail(
        self,
        tenant: Tenant,
        guardrail_identifier: str,
        guardrail_version: str,
        source: Source,
        content: list[dict[str, Any]],
        *,
        output_scope: str = "INTERVENTIONS",
        operation: str = "ApplyGuardrail",
        request_id: str | None = None,
    ) -> GuardrailResult:
        """Apply one guardrail version to ``content`` (ApplyGuardrail's content blocks)."""
        blocks = text_blocks(content)
        return await self.apply_blocks(
            tenant, guardrail_identifier, guardrail_version, source, blocks,
            full=output_scope == "FULL", operation=operation, request_id=request_id,
        )  # fmt: skip

    async def apply_blocks(
        self,
        tenant: Tenant,
        guardrail_identifier: str,
        guardrail_version: str,
        source: Source,
        blocks: list[TextBlock],
        *,
        full: bool = False,
        operation: str = "ApplyGuardrail",
        request_id: str | None = None,
    ) -> GuardrailResult:
        compiled = await self.compiled(tenant.tenant_id, guardrail_identifier, guardrail_version)
        # CPU-bound (classifiers, regexes): off the event loop, so other requests keep flowing.
        result = await asyncio.to_thread(compiled.evaluate, source, blocks, full=full)
        await self._record(tenant, compiled, source, operation, request_id, result)
        return result

    async def compiled(self, tenant_id: str, identifier: str, version: str | None) -> CompiledGuardrail:
        """The compiled guardrail version (cached; a DRAFT by its revision, so updates apply at once)."""
        gid = self.parse_identifier(identifier)
        version = version or DRAFT
        revision = 0
        if version == DRAFT:
            revision = await asyncio.to_thread(self.store.draft_revision, tenant_id, gid)
            if revision is None:
                await asyncio.to_thread(self.store.get, tenant_id, gid)  # raises the 404
        key = (tenant_id, gid, version, revision)
        cached = self._compiled.get(key)
        if cached is not None:
            self._compiled.move_to_end(key)
            return cached
        record = await asyncio.to_thread(self.store.get, tenant_id, gid, version)
        compiled = await asyncio.to_thread(
            compile_guardrail, gid, version, self.arn(gid), record.definition, self.resources
        )
        self._compiled[key] = compiled
        while len(self._compiled) > _CACHE_SIZE:
            self._compiled.popitem(last=False)
        return compiled

    async def _record(self, tenant, compiled, source, operation, request_id, result: GuardrailResult) -> None:
        record = UnitsRecord(
            at=time.time(),
            tenant_id=tenant.tenant_id,
            key_id=tenant.key_id,
            guardrail_id=compiled.guardrail_id,
            guardrail_version=compiled.version,
            operation=operation,
            source=source,
            action=result.action,
            topic_policy_units=result.usage["topicPolicyUnits"],
            content_policy_units=result.usage["contentPolicyUnits"],
            word_policy_units=result.usage["wordPolicyUnits"],
            sensitive_information_policy_units=result.usage["sensitiveInformationPolicyUnits"],
            sensitive_information_policy_free_units=result.usage["sensitiveInformationPolicyFreeUnits"],
            contextual_grounding_policy_units=result.usage["contextualGroundingPolicyUnits"],
            latency_ms=result.latency_ms,
            request_id=request_id,
        )
        await asyncio.to_thread(self.store.add_units, [record])


def text_blocks(content: list[dict[str, Any]]) -> list[TextBlock]:
    """ApplyGuardrail content → text blocks (images are counted in coverage, not checked)."""
    blocks: list[TextBlock] = []
    for i, item in enumerate(content, start=1):
        text = item.get("text")
        if text is None:
            if "image" in item:
                continue
            raise ValidationException(f"content.{i}.member must contain text or image")
        blocks.append(TextBlock(text["text"], tuple(text.get("qualifiers") or ())))
    return blocks


def check_apply_input(body: dict[str, Any], params: dict[str, Any]) -> None:
    """ApplyGuardrail's input against botocore's model."""
    validate_input("bedrock-runtime", "ApplyGuardrail", body, params)
