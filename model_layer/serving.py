"""How the gateway is served: the uvicorn configuration ``strata serve``/``up`` and the tests share.

One place for the HTTP server's settings (protocol classes, timeouts, limits), so the tests run
the gateway exactly as a user does.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from model_layer.settings import GatewaySettings


def uvicorn_config(app: Any, settings: GatewaySettings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn ``Config`` for serving ``app`` on ``settings.host:settings.port``."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "lifespan": "on",
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(app: Any, settings: GatewaySettings) -> None:
    """Run the gateway until Ctrl-C (blocks)."""
    uvicorn.Server(uvicorn_config(app, settings)).run()
