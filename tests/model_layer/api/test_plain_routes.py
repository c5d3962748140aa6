"""Every handler a module names in ``PLAIN_ROUTES`` is served as a plain route ahead of FastAPI's
routers, at the path and method of its FastAPI route (which stays for /openapi.json)."""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.routing import Route

from model_layer.api import openai, runtime
from tests.model_layer.gateway_harness import build_gateway


def test_each_plain_route_mirrors_its_fastapi_route(tmp_path):
    app = build_gateway(tmp_path).app
    named = [h for module in (openai, runtime) for h in module.PLAIN_ROUTES]
    plain = app.router.routes[: len(named)]
    assert all(type(r) is Route for r in plain)
    assert [r.endpoint.__wrapped__ for r in plain] == named
    api = {r.endpoint: r for m in (openai, runtime) for r in m.router.routes if isinstance(r, APIRoute)}
    for route in plain:
        twin = api[route.endpoint.__wrapped__]
        assert (route.path, route.methods) == (twin.path, twin.methods)
