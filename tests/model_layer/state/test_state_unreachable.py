"""A PostgreSQL server that accepts connections and never answers (a hung host, a half-open
network path) makes opening the state fail within the connect timeout, not hang every caller."""

from __future__ import annotations

import socket
import threading

import pytest

from model_layer.state import StateUnavailableError, open_database
from model_layer.state.database import PG_CONNECT_TIMEOUT_S


def test_a_silent_server_fails_within_the_connect_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nothing ever reads or answers
        url = f"postgresql://strata@127.0.0.1:{silent.getsockname()[1]}/strata"
        outcome: list[BaseException | None] = []

        def open_it() -> None:
            try:
                open_database(url)
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        opener = threading.Thread(target=open_it, daemon=True)
        opener.start()
        opener.join(timeout=PG_CONNECT_TIMEOUT_S * 4)
    if opener.is_alive():
        pytest.fail(f"open_database still waiting {PG_CONNECT_TIMEOUT_S * 4} s later")
    assert isinstance(outcome[0], StateUnavailableError)
