"""Typed clients for the gateway's guardrails: :class:`GuardrailsClient` and its async twin.

They speak the bedrock control plane (CreateGuardrail, CreateGuardrailVersion, Get/List/Delete)
and bedrock-runtime's ApplyGuardrail over HTTP, signed and retried exactly like
:class:`~model_layer.sdk.StrataClient` (they send through one), with the same typed errors::

    from model_layer.sdk import GuardrailsClient

    with GuardrailsClient(url, api_key=key) as guards:
        gid = guards.create_guardrail(
            "shop", blocked_input="Sorry, I can't help with that.", blocked_output="Sorry.",
            pii={"CREDIT_DEBIT_CARD_NUMBER": "ANONYMIZE"}, prompt_attack="HIGH",
            denied_topics={"investing": "Advice on stocks, crypto or other investments."},
        )
        version = guards.create_version(gid)
        checked = guards.apply(gid, version, "INPUT", "my card is 4111 1111 1111 1111")
        print(checked.action, checked.text)  # GUARDRAIL_INTERVENED my card is {CREDIT_DEBIT_CARD_NUMBER}

The policy keywords build AWS's policy configurations; ``**policies`` passes any of AWS's own
(``contentPolicyConfig=…``, ``wordPolicyConfig=…``) unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from model_layer.sdk.client import _AsyncTransport, _SyncTransport


def _q(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class GuardrailResult:
    """An ApplyGuardrail answer: ``action``, the (masked or replacing) outputs, the assessments."""

    action: str
    outputs: list[str]
    assessments: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def intervened(self) -> bool:
        return self.action == "GUARDRAIL_INTERVENED"

    @property
    def blocked(self) -> bool:
        """True when a policy blocked the content (not when it only masked PII)."""
        if not self.intervened:
            return False
        return any(_blocks(a) for a in self.assessments)

    @property
    def text(self) -> str:
        return "".join(self.outputs)

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> GuardrailResult:
        return cls(
            action=str(body.get("action", "NONE")),
            outputs=[str(o.get("text", "")) for o in body.get("outputs") or []],
            assessments=list(body.get("assessments") or []),
            raw=body,
        )


def _blocks(assessment: dict[str, Any]) -> bool:
    """Whether any finding in one assessment has action BLOCKED (ANONYMIZED only masks)."""
    found = False

    def walk(node: Any) -> None:
        nonlocal found
        if isinstance(node, dict):
            if node.get("action") == "BLOCKED" and node.get("detected", True):
                found = True
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(assessment)
    return found


def guardrail_body(
    name: str,
    *,
    blocked_input: str,
    blocked_output: str,
    pii: dict[str, str] | None = None,
    prompt_attack: str | None = None,
    denied_topics: dict[str, str] | None = None,
    description: str | None = None,
    **policies: Any,
) -> dict[str, Any]:
    """A CreateGuardrail body from the keyword shortcuts and any AWS policy configurations."""
    body: dict[str, Any] = {
        "name": name,
        "blockedInputMessaging": blocked_input,
        "blockedOutputsMessaging": blocked_output,
        **policies,
    }
    if description:
        body["description"] = description
    if pii:
        entities = [{"type": kind, "action": action} for kind, action in pii.items()]
        body["sensitiveInformationPolicyConfig"] = {"piiEntitiesConfig": entities}
    if prompt_attack:
        attack = {"type": "PROMPT_ATTACK", "inputStrength": prompt_attack, "outputStrength": "NONE"}
        content = body.setdefault("contentPolicyConfig", {"filtersConfig": []})
        content["filtersConfig"] = [*content.get("filtersConfig", []), attack]
    if denied_topics:
        topics = [{"name": n, "definition": d, "type": "DENY"} for n, d in denied_topics.items()]
        body["topicPolicyConfig"] = {"topicsConfig": topics}
    return body


def _apply_body(source: str, texts: str | list[str]) -> dict[str, Any]:
    items = [texts] if isinstance(texts, str) else list(texts)
    return {"source": source, "content": [{"text": {"text": t}} for t in items]}


def _apply_path(guardrail_id: str, version: str) -> str:
    return f"/guardrail/{_q(guardrail_id)}/version/{_q(version)}/apply"


class GuardrailsClient(_SyncTransport):
    """Synchronous guardrails client; takes :class:`~model_layer.sdk.StrataClient`'s arguments."""

    def create_guardrail(self, name: str, **options: Any) -> str:
        """CreateGuardrail (see :func:`guardrail_body` for the options); returns the guardrail id."""
        return str(self._json("POST", "/guardrails", guardrail_body(name, **options))["guardrailId"])

    def create_version(self, guardrail_id: str, *, description: str | None = None) -> str:
        """Snapshot the draft as an immutable numbered version; returns the version ("1", "2", …)."""
        body = {"description": description} if description else {}
        return str(self._json("POST", f"/guardrails/{_q(guardrail_id)}", body)["version"])

    def get_guardrail(self, guardrail_id: str, *, version: str | None = None) -> dict[str, Any]:
        query = f"?guardrailVersion={_q(version)}" if version else ""
        return self._json("GET", f"/guardrails/{_q(guardrail_id)}{query}")

    def list_guardrails(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/guardrails").get("guardrails", []))

    def delete_guardrail(self, guardrail_id: str) -> None:
        self._json("DELETE", f"/guardrails/{_q(guardrail_id)}")

    def apply(self, guardrail_id: str, version: str, source: str, texts: str | list[str]) -> GuardrailResult:
        """ApplyGuardrail on ``texts`` as ``source`` ``"INPUT"`` (a user's words) or ``"OUTPUT"``."""
        body = self._json("POST", _apply_path(guardrail_id, version), _apply_body(source, texts))
        return GuardrailResult.from_wire(body)


class AsyncGuardrailsClient(_AsyncTransport):
    """The asyncio twin of :class:`GuardrailsClient`."""

    async def create_guardrail(self, name: str, **options: Any) -> str:
        created = await self._json("POST", "/guardrails", guardrail_body(name, **options))
        return str(created["guardrailId"])

    async def create_version(self, guardrail_id: str, *, description: str | None = None) -> str:
        body = {"description": description} if description else {}
        return str((await self._json("POST", f"/guardrails/{_q(guardrail_id)}", body))["version"])

    async def get_guardrail(self, guardrail_id: str, *, version: str | None = None) -> dict[str, Any]:
        query = f"?guardrailVersion={_q(version)}" if version else ""
        return await self._json("GET", f"/guardrails/{_q(guardrail_id)}{query}")

    async def list_guardrails(self) -> list[dict[str, Any]]:
        return list((await self._json("GET", "/guardrails")).get("guardrails", []))

    async def delete_guardrail(self, guardrail_id: str) -> None:
        await self._json("DELETE", f"/guardrails/{_q(guardrail_id)}")

    async def apply(
        self, guardrail_id: str, version: str, source: str, texts: str | list[str]
    ) -> GuardrailResult:
        body = await self._json("POST", _apply_path(guardrail_id, version), _apply_body(source, texts))
        return GuardrailResult.from_wire(body)
