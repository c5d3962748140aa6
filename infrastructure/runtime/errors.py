"""Errors the runtime raises: bad requests (with an HTTP status) and unreachable endpoints.

Both are :class:`strata.errors.StrataError`, so the CLI prints one line; the container turns
:class:`InvalidRequestError` into a JSON 4xx response.
"""

from __future__ import annotations

from strata.errors import StrataError


class InvalidRequestError(StrataError):
    """The request is malformed or the model rejected it; ``status_code`` is the HTTP status,
    ``details`` llama.cpp's error object when it sent one (``type``, ``n_prompt_tokens``, ...)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 400,
        hint: str | None = None,
        details: dict | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.details = details or {}


class EndpointUnreachableError(StrataError):
    """A remote model endpoint (OpenAI-compatible server, SageMaker) could not be reached."""


class EngineClosedError(StrataError):
    """The engine was closed; create a new one."""
