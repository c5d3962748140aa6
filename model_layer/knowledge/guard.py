"""A guardrail on knowledge-base queries: Retrieve's ``guardrailConfiguration`` and
RetrieveAndGenerate(Stream)'s ``generationConfiguration.guardrailConfiguration``.

As Bedrock documents it, the guardrail applies to the input (the query) and to the answer the
model generates, never to the references retrieved from the knowledge base. The query is checked
before anything is retrieved: a blocked query retrieves nothing (Retrieve answers no results;
RetrieveAndGenerate answers the guardrail's blocked-input message without calling the model), a
masked one (ANONYMIZE) is searched for, prompted with and kept in the session masked. The answer
is checked as it streams, by the same output guard Converse uses (chunks of one text unit, held
until they pass), run by the model service inside the call's metering
(``converse_stream(..., checked=guard.call)``), so a blocked answer is metered as a complete call.
The evaluation, caching and text-unit records are the gateway's guardrails
(:mod:`model_layer.guardrails`): an unknown guardrail or version is the ResourceNotFoundException
Converse gives, and the units are recorded under the KB operation's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model_layer.errors import ValidationException
from model_layer.guardrails.converse import GuardedCall, GuardrailConfig
from model_layer.guardrails.policies.base import TextBlock
from model_layer.types import Tenant

INTERVENED, NONE = "INTERVENED", "NONE"  # the agent runtime's GuadrailAction (sic, in botocore)


def config_from(raw: dict[str, Any] | None) -> GuardrailConfig | None:
    """The KB API's ``{guardrailId, guardrailVersion}`` (botocore has checked both are there)."""
    if not raw:
        return None
    return GuardrailConfig(raw["guardrailId"], raw["guardrailVersion"])


@dataclass
class QueryGuard:
    """One request's guardrail: the checked query and, with generation, the answer's checks."""

    call: GuardedCall
    operation: str
    request_id: str | None

    @property
    def query_blocked(self) -> bool:
        return self.call.input is not None and self.call.input.blocked

    @property
    def answer_blocked(self) -> bool:
        return bool(self.call.model_output)  # the output guard keeps the text it withheld

    @property
    def action(self) -> str:
        return INTERVENED if self.call.intervened else NONE

    @property
    def blocked_input_message(self) -> str:
        return self.call.compiled.blocked_input_messaging

    @property
    def blocked_output_message(self) -> str:
        return self.call.compiled.blocked_outputs_messaging


async def resolve(
    models: Any, tenant: Tenant, config: GuardrailConfig, operation: str, request_id: str | None
) -> QueryGuard:
    """The compiled guardrail version (ResourceNotFoundException for one the tenant does not have),
    before any work is done for the request."""
    guardrails = getattr(models, "guardrails", None)
    if guardrails is None:
        raise ValidationException("Guardrails are not enabled on this gateway")
    call = GuardedCall(config)
    call.compiled = await guardrails.compiled(tenant.tenant_id, config.identifier, config.version)
    return QueryGuard(call, operation, request_id)


async def check_query(models: Any, tenant: Tenant, guard: QueryGuard, text: str) -> str | None:
    """The query as the guardrail leaves it: None when blocked, else the text (masked if it had to be)."""
    config = guard.call.config
    result = await models.guardrails.apply_blocks(
        tenant, config.identifier, config.version, "INPUT", [TextBlock(text)],
        operation=guard.operation, request_id=guard.request_id,
    )  # fmt: skip
    guard.call.input = result
    if result.blocked:
        return None
    return result.texts[0] if result.intervened else text
