"""The HTTP server's edges, as ``strata serve`` runs it (``model_layer.serving``), with raw sockets.

- a client that trickles its headers, or connects and says nothing, is cut off after the header
  timeout (a 408), however slowly it keeps sending;
- the timeout covers headers only: a slow answer on a keep-alive connection is not cut;
- a malformed chunked body, or a body cut short by a disconnect, leaves no traceback in the log
  (uvicorn's one warning line at most).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from tests.model_layer.gateway_harness import CHAT_MODEL, build_gateway, fake_models
from tests.model_layer.live import serve_app

HEADER_TIMEOUT_S = 0.5
BOUND_S = 10  # generous: the point is "closed", not how fast


@contextmanager
def gateway(tmp_path, **provider) -> Iterator[tuple[str, int, str]]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STRATA_HEADER_TIMEOUT_S", str(HEADER_TIMEOUT_S))
        gw = build_gateway(tmp_path, fake_models(**provider))
    with serve_app(gw.app) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        yield host, int(port), gw.keys.api_key


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=BOUND_S)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def _read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length body (the connection stays open)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_trickled_headers_are_cut_off_at_the_header_timeout(tmp_path):
    with gateway(tmp_path) as (host, port, _):
        socks = [_connect(host, port) for _ in range(20)]
        head = b"GET /health HTTP/1.1\r\nHost: gateway\r\nX-Slow: " + b"a" * 400
        stop = threading.Event()

        def trickle() -> None:  # one byte per connection every 50 ms: never idle, never done
            for i in range(len(head)):
                for sock in socks:
                    with suppress(OSError):  # the server may have closed it already
                        sock.send(head[i : i + 1])
                if stop.wait(0.05):
                    return

        sender = threading.Thread(target=trickle, daemon=True)
        started = time.monotonic()
        sender.start()
        try:
            answers = [_read_until_closed(sock) for sock in socks]
        finally:
            stop.set()
            sender.join()
            for sock in socks:
                sock.close()
        assert time.monotonic() - started < BOUND_S
        assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers[:2]


def test_a_silent_connection_is_closed_and_others_are_served(tmp_path):
    with gateway(tmp_path) as (host, port, _):
        silent = _connect(host, port)
        normal = _connect(host, port)
        normal.sendall(b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")
        assert normal.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert _read_until_closed(silent).startswith(b"HTTP/1.1 408 ")
        silent.close()
        normal.close()


def test_a_slow_answer_is_not_cut_and_keep_alive_still_works(tmp_path):
    body = b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}'
    with gateway(tmp_path, delay_s=HEADER_TIMEOUT_S * 3) as (host, port, key):
        sock = _connect(host, port)
        request = (
            f"POST /model/{CHAT_MODEL}/converse HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        for _ in range(2):  # the second request on the same connection: the clock restarted cleanly
            sock.sendall(request)
            answer = _read_response(sock)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
            assert b"You said: hi" in answer
        sock.close()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _captured_logs() -> Iterator[_Records]:
    handler = _Records()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]  # uvicorn's don't propagate
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def test_malformed_and_truncated_bodies_leave_no_traceback(tmp_path):
    with gateway(tmp_path) as (host, port, key), _captured_logs() as logs:
        head = (
            f"POST /model/{CHAT_MODEL}/converse HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\n"
        )
        malformed = _connect(host, port)
        malformed.sendall((head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZZ\r\nxx\r\n").encode())
        assert _read_until_closed(malformed).startswith(b"HTTP/1.1 400 ")
        malformed.close()
        truncated = _connect(host, port)
        truncated.sendall((head + "Content-Length: 1000\r\n\r\n").encode() + b'{"messages": [')
        truncated.shutdown(socket.SHUT_WR)
        truncated.close()
        # the server is fine and has finished with both: a later request on a new connection works
        probe = _connect(host, port)
        probe.sendall(b"GET /health HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        assert _read_until_closed(probe).startswith(b"HTTP/1.1 200 ")
        probe.close()
    assert not [r for r in logs.records if r.exc_info or r.levelno >= logging.ERROR]
    assert len([r for r in logs.records if r.levelno == logging.WARNING]) <= 1
