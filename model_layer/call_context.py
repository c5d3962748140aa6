"""What the model service tells the edge about the call a request made, for the access log.

The access-log middleware (:mod:`model_layer.api.access_log`) puts a fresh :class:`CallRecord` in
:data:`current_call` for each request; :class:`~model_layer.service.ModelService` fills it in when a
model call ends (also when it fails or is cancelled). A context variable holding a *mutable*
record, because a streaming body runs in a child task: the child sees the same object, so what it
writes is visible to the middleware once the response is done. Nothing here holds prompt text.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from model_layer.types import Usage


@dataclass
class CallRecord:
    operation: str | None = None
    model_id: str | None = None
    usage: Usage | None = None
    outcome: str | None = None  # None = success, else the error code or "ClientDisconnected"


current_call: ContextVar[CallRecord | None] = ContextVar("strata_current_call", default=None)


def note_call(operation: str, model_id: str, usage: Usage, outcome: str | None) -> None:
    """Record the call on the current request's record, if an access log is listening."""
    record = current_call.get()
    if record is not None:
        record.operation, record.model_id, record.usage, record.outcome = operation, model_id, usage, outcome
