"""A real gateway for client tests: fake provider, issued keys, real auth, limits and metering.

Used by the OpenAI-API, SDK, client end-to-end and fuzz tests. Everything is the production code
(``create_app`` + ``ModelRouter`` + ``Authenticator`` + ``RateLimiter`` + ``UsageMeter``); only the
model is the deterministic fake provider, so wire tests can assert exact values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_layer.app import Gateway as Parts
from model_layer.app import assemble, create_app
from model_layer.auth.keystore import IssuedKeys
from model_layer.config import parse_config
from model_layer.providers.registry import ModelRouter
from model_layer.settings import GatewaySettings

CHAT_MODEL = "fake.echo-v1:0"
EMBED_MODEL = "amazon.fake-embed-v1:0"  # `amazon.`: langchain's BedrockEmbeddings sends Titan bodies
EMBED_DIMS = 16


def local_minilm(model_id: str) -> dict[str, Any]:
    """A model entry: ``model_id`` served by the real local MiniLM embeddings (onnxruntime)."""
    return {
        "id": model_id,
        "provider": "local",
        "upstream": "all-minilm-l6-v2",
        "kind": "embedding",
        "native_format": "titan-embed",
        "streaming": False,
        "context_window": 256,
    }


def fake_models(**provider: Any) -> dict[str, Any]:
    """A strata.toml document with one fake chat model and one fake embedding model."""
    return {
        "providers": [{"name": "fake", "type": "fake", "embedding_dimensions": EMBED_DIMS, **provider}],
        "models": [
            {"id": CHAT_MODEL, "provider": "fake", "provider_name": "Strata"},
            {
                "id": EMBED_MODEL,
                "provider": "fake",
                "kind": "embedding",
                "native_format": "titan-embed",
                "streaming": False,
            },
        ],
        "retry": {"max_attempts": 1},
    }


@dataclass
class Gateway:
    app: Any
    keys: IssuedKeys
    settings: GatewaySettings
    router: ModelRouter
    parts: Parts

    def issue_keys(self, tenant_id: str, **limits: Any) -> IssuedKeys:
        return self.parts.keystore.create_keys(tenant_id, **limits)

    @property
    def usage(self):
        """The usage records (``summarize``, ``records``) in this gateway's state."""
        return committed_usage(self.parts)


def committed_usage(parts: Parts):
    """The usage store of a gateway's state once every call it metered so far is committed (with
    the usage journal, the commit follows the response by up to a few tens of milliseconds)."""
    writer = getattr(parts.service.meter, "writer", None)
    if writer is not None:
        assert writer.wait_committed(10), "usage records not committed within 10 s"
    return parts.keystore.state.usage


def build_gateway(
    home: Path,
    config: dict[str, Any] | None = None,
    *,
    providers: dict[str, Any] | None = None,
    tenant: str = "acme",
    **limits: Any,
) -> Gateway:
    """The gateway app over ``config`` (default :func:`fake_models`; ``providers`` by name, such as a
    scripted model, instead of the configured ones) with keys for ``tenant``."""
    settings = GatewaySettings(home=home)
    router = ModelRouter(parse_config(config or fake_models()), providers=providers)
    parts = assemble(settings, router=router)
    app = create_app(settings, gateway=parts)
    gateway = Gateway(app, None, settings, router, parts)  # type: ignore[arg-type]
    gateway.keys = gateway.issue_keys(tenant, **limits)
    return gateway
