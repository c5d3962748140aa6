"""How the gateway is served: the uvicorn configuration ``strata serve``/``up`` and the tests share.

One place for the HTTP server's settings (protocol classes, timeouts, limits), so the tests run
the gateway exactly as a user does. :func:`metrics_listener` runs the optional second listener
(``STRATA_METRICS_PORT``) that serves only ``/metrics`` and ``/health``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from model_layer.settings import GatewaySettings
from strata.errors import ConfigurationError


def uvicorn_config(app: Any, settings: GatewaySettings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn ``Config`` for serving ``app`` on ``settings.host:settings.port``."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        # uvicorn's access line is below that level, but its arguments were still built for every
        # response; strata's own access log (--access-log) is a middleware.
        "access_log": False,
        "lifespan": "on",
        "http": header_timeout_protocol(settings.header_timeout_s),
        # X-Forwarded-For/-Proto are honoured only from the proxies named (e.g. the load balancer);
        # with none, uvicorn's proxy-headers middleware is left out of every request's path.
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or None,
        "server_header": False,  # no "server: uvicorn" on every response
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a deadline for a request's headers.

    uvicorn times out idle keep-alive connections, but stops the clock at the first byte of a
    request and never restarts it: a client that trickles its headers (or connects and says
    nothing) holds the connection, and a server slot, forever. Here the deadline starts when the
    connection opens or a request begins, is not moved by further bytes, and ends when the
    headers are complete; past it the connection gets a 408 and is closed. Bodies are bounded
    elsewhere (the body-size limit; the app's own timeouts).
    """

    header_timeout_s: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        self._start_header_clock()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_clock()

    def on_headers_complete(self) -> None:
        self._stop_header_clock()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def _start_header_clock(self) -> None:
        if self._header_deadline is None:  # the first byte's deadline holds; more bytes don't move it
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _stop_header_clock(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # no response of ours is under way
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()


_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def header_timeout_protocol(timeout_s: float) -> type[HeaderTimeoutProtocol]:
    """:class:`HeaderTimeoutProtocol` with ``timeout_s`` (uvicorn takes a class, not an instance)."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": timeout_s})


def serve(app: Any, settings: GatewaySettings) -> None:
    """Run the gateway until Ctrl-C (blocks)."""
    with metrics_listener(app, settings):
        uvicorn.Server(uvicorn_config(app, settings)).run()


class _ListenerServer(uvicorn.Server):
    """A uvicorn server that says when its start-up is over, whether or not it could bind."""

    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        self.startup_over = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        try:
            await super().startup(sockets)
        finally:  # also on uvicorn's SystemExit when the port is taken
            self.startup_over.set()

    def run_in_thread(self) -> None:
        # uvicorn answers a failed bind with sys.exit after logging it; in a thread that is just
        # "not started", which metrics_listener reports as a ConfigurationError.
        with contextlib.suppress(SystemExit):
            self.run()


@contextlib.contextmanager
def metrics_listener(app: Any, settings: GatewaySettings) -> Iterator[str | None]:
    """While inside, serve ``app``'s ``/metrics`` and ``/health`` on the metrics port; yield its URL.

    Yields None when ``settings.metrics_port`` is unset. It runs in a thread with its own event
    loop: uvicorn installs signal handlers only on the main thread, so Ctrl-C stays with the main
    server, whose exit ends this block and the listener with it.
    """
    if settings.metrics_port is None:
        yield None
        return
    from model_layer.api.ops import listener_app

    config = uvicorn_config(
        listener_app(app), settings, host=settings.metrics_host, port=settings.metrics_port, lifespan="off"
    )
    server = _ListenerServer(config)
    thread = threading.Thread(target=server.run_in_thread, name="strata-metrics-listener", daemon=True)
    thread.start()
    server.startup_over.wait(timeout=30)
    if not server.started:
        server.should_exit = True
        thread.join(timeout=5)
        where = f"{settings.metrics_host}:{settings.metrics_port}"
        raise ConfigurationError(
            f"the metrics listener could not listen on {where}",
            hint="free the port or set another STRATA_METRICS_PORT",
        )
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
