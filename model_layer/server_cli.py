"""``strata serve`` and ``strata up``: run the gateway with uvicorn.

``serve`` runs it from settings and ``strata.toml`` (or the embedded defaults). ``up`` is the
one-command demo: the embedded defaults, plus a ``demo`` tenant whose keys are printed the first
time, so a fresh clone can point boto3 or the openai SDK at it at once. Both check the port before
loading any model, so "port in use" is one line, not a uvicorn traceback.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from strata.errors import ConfigurationError, StrataError

DEMO_TENANT = "demo"


class PortInUseError(StrataError):
    """The port is taken (another gateway, or another program)."""


def check_port_free(host: str, port: int) -> None:
    """Bind and release ``host:port`` to fail early with a clear message."""
    if not 0 < port < 65536:
        raise ConfigurationError(f"invalid port {port}", hint="use 1-65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigurationError(f"cannot listen on host {host!r}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # uvicorn sets it too
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {port} on {host} is already in use", hint="stop the other server or pass --port"
                ) from None
            raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _settings(host: str, port: int, config: Path | None):
    from model_layer.settings import GatewaySettings

    if config is not None and not config.is_file():
        raise ConfigurationError(f"config file not found: {config}", hint="see examples/strata.example.toml")
    overrides = {"host": host, "port": port}
    if config is not None:
        overrides["config_file"] = config
    return GatewaySettings(**overrides)


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _run(settings, console: Console, *, banner_extra: list[str] | None = None) -> None:
    from model_layer.app import create_app
    from model_layer.serving import serve

    check_port_free(settings.host, settings.port)
    with console.status("loading models…"):
        app = create_app(settings)
    models = app.state.service.list_models()
    base_url = _url(settings.host, settings.port)
    console.print(f"[bold]strata gateway[/] on {base_url}  ({len(models)} models)")
    for model in models:
        console.print(f"  {model.kind:<9} {model.model_id}")
    console.print(f"  Bedrock clients: endpoint_url={base_url}   OpenAI clients: base_url={base_url}/v1")
    for line in banner_extra or []:
        console.print(line)
    serve(app, settings)


HostOption = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
PortOption = Annotated[int, typer.Option("--port", help="TCP port.")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="strata.toml (default: $STRATA_HOME/strata.toml, else built-in models)."),
]


def serve(host: HostOption = "127.0.0.1", port: PortOption = 8000, config: ConfigOption = None) -> None:
    """Run the model gateway (Bedrock- and OpenAI-compatible) until Ctrl-C."""
    console = Console(highlight=False, soft_wrap=True)
    settings = _settings(host, port, config)
    hint = "Create a key: strata keys create --tenant <name>   (API key for /v1, key pair for SigV4)"
    _run(settings, console, banner_extra=[hint])


def _demo_keys_lines(settings) -> list[str]:
    """Issue the demo tenant's keys once; later runs only say where they are."""
    from model_layer.auth.keystore import KeyStore

    store = KeyStore.open(settings)
    try:
        if store.list_keys(DEMO_TENANT):
            return [
                f"Demo tenant {DEMO_TENANT!r}: keys were issued on the first run (secrets are shown once).",
                f"  Another key set: strata keys create --tenant {DEMO_TENANT}"
                f"   (list: strata keys list --tenant {DEMO_TENANT})",
            ]
        keys = store.create_keys(DEMO_TENANT)
    finally:
        store.close()
    return [
        f"Demo tenant {DEMO_TENANT!r} keys (shown once):",
        f"  OPENAI_API_KEY={keys.api_key}",
        f"  AWS_ACCESS_KEY_ID={keys.access_key_id}",
        f"  AWS_SECRET_ACCESS_KEY={keys.secret_access_key}",
    ]


def up(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """The demo in one command: the gateway with the embedded local models and a demo tenant."""
    console = Console(highlight=False, soft_wrap=True)
    settings = _settings(host, port, None)
    check_port_free(settings.host, settings.port)  # before issuing keys nobody would see
    _run(settings, console, banner_extra=_demo_keys_lines(settings))


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``up`` to the root app."""
    app.command("serve")(serve)
    app.command("up")(up)
