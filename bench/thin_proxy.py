"""The floor for a Python gateway: a thin pass-through proxy, the third target of ``gateway_bench``.

    .venv/bin/python bench/thin_proxy.py --port 9001 --upstream http://127.0.0.1:9000/v1

What it does, all of it (so a comparison with it is honest):

- served by uvicorn with the settings strata's own server uses for the loop and the parser
  (uvloop + httptools), one process, one worker, no access log;
- a raw ASGI app (no framework, no routing, no middleware): it reads the request body in full,
  sends it with the same method to ``upstream + path-after-/v1`` through one shared client
  (``--client httpx``, the default and the floor issue 7 measured against: an
  ``httpx.AsyncClient``; ``--client aiohttp``: an ``aiohttp.ClientSession`` without cookies, the
  client strata's OpenAI-compatible provider uses) (keep-alive pool as big as the bench's
  concurrency, no retries), reads
  the upstream's answer in full and returns its status, its ``content-type`` and its body, with
  a ``content-length``;
- it forwards only the ``content-type`` header: no authentication, no rate limits, no metering,
  no logging, no JSON parsing, no model routing, no translation, no streaming pass-through
  (a streamed answer is buffered, which the bench never asks for).

So it costs one uvicorn request cycle plus one httpx round trip: what any Python proxy on this
stack pays before it does anything of its own.
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx
import uvicorn

PREFIX = "/v1"


async def read_body(receive: Any) -> bytes:
    """The whole request body (an ASGI ``receive`` channel)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


class _Httpx:
    def __init__(self, pool: int) -> None:
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        self.client = httpx.AsyncClient(limits=limits, timeout=60)

    async def forward(self, method: str, url: str, body: bytes, kind: str) -> tuple[int, str, bytes]:
        answer = await self.client.request(method, url, content=body, headers={"content-type": kind})
        return answer.status_code, answer.headers.get("content-type", "application/json"), answer.content

    async def close(self) -> None:
        await self.client.aclose()


class _Aiohttp:
    def __init__(self, pool: int) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=pool)
        self.client = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    async def forward(self, method: str, url: str, body: bytes, kind: str) -> tuple[int, str, bytes]:
        async with self.client.request(method, url, data=body, headers={"content-type": kind}) as answer:
            payload = await answer.read()
            return answer.status, answer.headers.get("content-type", "application/json"), payload

    async def close(self) -> None:
        await self.client.close()


CLIENTS = {"httpx": _Httpx, "aiohttp": _Aiohttp}


def make_app(upstream: str, pool: int, client: str = "httpx") -> Any:
    """The ASGI app forwarding ``/v1/...`` to ``upstream/...`` (``upstream`` ends with ``/v1``)."""
    base = upstream.rstrip("/")
    state: dict[str, Any] = {}

    async def lifespan(receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["client"] = CLIENTS[client](pool)  # made inside the server's loop
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await state["client"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        path = scope["path"]
        path = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        kind = next((v for k, v in scope["headers"] if k == b"content-type"), b"application/json")
        status, content_type, payload = await state["client"].forward(
            scope["method"], base + path, body, kind.decode()
        )
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the upstream's base URL, ending in /v1")
    parser.add_argument("--pool", type=int, default=64, help="keep-alive connections to the upstream")
    parser.add_argument("--client", choices=tuple(CLIENTS), default="httpx", help="upstream client")
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.upstream, args.pool, args.client),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="error",
        access_log=False,
    )


if __name__ == "__main__":
    main()
