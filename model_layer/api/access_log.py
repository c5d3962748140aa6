"""The gateway's access log: one ``strata.access`` line per HTTP request, never prompt text.

:class:`AccessLogMiddleware` puts a fresh :class:`~model_layer.call_context.CallRecord` in
:data:`~model_layer.call_context.current_call` for each request, lets the request run (the model
service fills the record in when its model call ends), and after the response logs::

    tenant=acme op=Converse model=local.smollm2-135m-instruct-v1:0 status=200 in=12 out=34 ms=210 rid=…

(``cache_read=``/``cache_write=`` when a prompt cache was used), plus ``error=<code>`` when the
call failed (also after the status was sent: a mid-stream error, a client that went away).
Requests without a model call name their route's handler (``ListFoundationModels``); an
unauthenticated one logs ``tenant=-``. Only ids, counts and codes go into the line: no message
text, no headers, no query strings. The time is the logging formatter's (``strata serve``/``up``
configure one), so operators can route and format it with the standard :mod:`logging` machinery.

A plain ASGI middleware (like the request-id one): ``@app.middleware("http")`` would cost a task
and a memory stream per request, and the gateway's overhead is benchmarked. It is only installed
when the access log is on, and does nothing but pass through while the logger is disabled.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import Any

from model_layer.call_context import CallRecord, current_call
from model_layer.types import Usage

logger = logging.getLogger("strata.access")
_NO_USAGE = Usage()


@lru_cache(maxsize=256)
def _operation_name(handler_name: str) -> str:
    """``list_foundation_models`` -> ``ListFoundationModels`` (handlers are named after operations)."""
    return "".join(part.capitalize() for part in handler_name.split("_"))


def access_line(scope: dict[str, Any], record: CallRecord, status: int, elapsed_ms: float) -> str:
    """The log message for one finished request (see the module docstring)."""
    state = scope.get("state") or {}
    tenant = getattr(state.get("tenant"), "tenant_id", None) or "-"
    operation = record.operation
    if operation is None:
        endpoint = scope.get("endpoint")
        operation = _operation_name(endpoint.__name__) if endpoint is not None else "-"
    usage = record.usage or _NO_USAGE
    line = (
        f"tenant={tenant} op={operation} model={record.model_id or '-'} status={status}"
        f" in={usage.input_tokens} out={usage.output_tokens} ms={elapsed_ms:.0f}"
    )
    if usage.cache_read_input_tokens or usage.cache_write_input_tokens:
        # "in" counts like Bedrock's inputTokens (and `strata usage`): without the cached prefix.
        line += f" cache_read={usage.cache_read_input_tokens} cache_write={usage.cache_write_input_tokens}"
    line += f" rid={state.get('request_id') or '-'}"
    return f"{line} error={record.outcome}" if record.outcome else line


class AccessLogMiddleware:
    """Log one line per HTTP request to the ``strata.access`` logger at INFO."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        record = CallRecord()
        token = current_call.set(record)
        started = time.perf_counter()
        # What the client gets if the app raises before a response starts (the server sends 500).
        status = 500

        async def send_and_note_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            current_call.reset(token)
            logger.info(access_line(scope, record, status, (time.perf_counter() - started) * 1000))
