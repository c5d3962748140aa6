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


def make_app(upstream: str, pool: int) -> Any:
    """The ASGI app forwarding ``/v1/...`` to ``upstream/...`` (``upstream`` ends with ``/v1``)."""
    base = upstream.rstrip("/")
    state: dict[str, httpx.AsyncClient] = {}

    async def lifespan(receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
                state["client"] = httpx.AsyncClient(limits=limits, timeout=60)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await state["client"].aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        path = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        kind = next((v for k, v in scope["headers"] if k == b"content-type"), b"application/json")
        answer = await state["client"].request(
            scope["method"], base + path, content=body, headers={"content-type": kind.decode()}
        )
        payload = answer.content
        headers = [
            (b"content-type", answer.headers.get("content-type", "application/json").encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": answer.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


def make_aiohttp_app(upstream: str, pool: int) -> Any:
    """:func:`make_app` with an aiohttp session as the upstream client."""
    import aiohttp

    base = upstream.rstrip("/")
    state: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["client"] = aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(limit=pool), cookie_jar=aiohttp.DummyCookieJar()
                    )
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await state["client"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        path = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        kind = next((v for k, v in scope["headers"] if k == b"content-type"), b"application/json")
        async with state["client"].request(
            scope["method"], base + path, data=body, headers={"content-type": kind.decode()}
        ) as answer:
            payload = await answer.read()
            headers = [
                (b"content-type", answer.headers.get("content-type", "application/json").encode()),
                (b"content-length", str(len(payload)).encode()),
            ]
            status = answer.status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the upstream's base URL, ending in /v1")
    parser.add_argument("--pool", type=int, default=64, help="keep-alive connections to the upstream")
    parser.add_argument("--client", choices=("httpx", "aiohttp"), default="httpx", help="upstream client")
    args = parser.parse_args()
    factory = make_aiohttp_app if args.client == "aiohttp" else make_app
    uvicorn.run(
        factory(args.upstream, args.pool),
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
