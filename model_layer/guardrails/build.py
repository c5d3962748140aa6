"""Build a gateway's :class:`~model_layer.guardrails.Guardrails` from settings and the shared state."""

from __future__ import annotations

from model_layer.guardrails import Guardrails
from model_layer.guardrails.store import GuardrailStore
from model_layer.settings import GatewaySettings
from model_layer.state import State


def build_guardrails(settings: GatewaySettings, state: State) -> Guardrails:
    return Guardrails(GuardrailStore(state.db), region=settings.region, account_id=settings.account_id)
