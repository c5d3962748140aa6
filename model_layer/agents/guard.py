"""An agent's guardrail (``guardrailConfiguration``) on its input and on its final answer.

As on Bedrock: the user's input is checked before the agent does anything with it, the final
answer before the user sees it. A block replaces the text with the guardrail's blocked message
(and the turn ends there, for the input); masking (ANONYMIZE) replaces it with the masked text.
Each check is a ``guardrailTrace`` (``inputAssessments`` / ``outputAssessments``). The guardrail
itself is the gateway's (``ModelService.guardrails``, :mod:`model_layer.guardrails`), applied and
metered to the tenant like ApplyGuardrail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model_layer.agents import traces
from model_layer.errors import ValidationException
from model_layer.types import Tenant

DRAFT = "DRAFT"


@dataclass
class Checked:
    text: str
    blocked: bool = False
    trace: dict[str, Any] | None = None


async def check(
    guardrails: Any,
    tenant: Tenant,
    config: dict[str, Any] | None,
    source: str,
    text: str,
    trace_id: str,
    request_id: str | None,
) -> Checked:
    """``text`` through the agent's guardrail (``source`` INPUT or OUTPUT); unchanged without one."""
    if not config or not text:
        return Checked(text)
    if guardrails is None:
        raise ValidationException("guardrailConfiguration: this gateway has no guardrails")
    result = await guardrails.apply_guardrail(
        tenant,
        config["guardrailIdentifier"],
        config.get("guardrailVersion") or DRAFT,
        source,
        [{"text": {"text": text}}],
        operation="InvokeAgent",
        request_id=request_id,
    )
    side = {"inputs": result.assessments} if source == "INPUT" else {"outputs": result.assessments}
    trace = traces.guardrail(trace_id, result.action, **side)
    if result.blocked:
        blocked = result.outputs[0]["text"] if result.outputs else "Sorry, I can't help with that."
        return Checked(blocked, True, trace)
    masked = result.texts[0] if result.texts else text
    return Checked(masked, False, trace)
