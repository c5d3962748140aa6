"""``strata serve`` and ``strata up``: run the gateway with uvicorn.

``serve`` runs it from settings and ``strata.toml`` (or the embedded defaults). ``up`` is the
one-command demo: the embedded defaults, plus a ``demo`` tenant whose keys are printed the first
time, so a fresh clone can point boto3 or the openai SDK at it at once. Both check the port before
loading any model, so "port in use" is one line, not a uvicorn traceback.
"""

from __future__ import annotations

import errno
import json
import logging
import shlex
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from strata.errors import ConfigurationError, StrataError
from strata.home import writable_home

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


def _settings(host: str, port: int, config: Path | None, access_log: bool | None, access_log_default: bool):
    from model_layer.settings import GatewaySettings

    if config is not None and not config.is_file():
        raise ConfigurationError(f"config file not found: {config}", hint="see examples/strata.example.toml")
    overrides: dict[str, Any] = {"host": host, "port": port}
    if config is not None:
        overrides["config_file"] = config
    if access_log is not None:
        overrides["access_log"] = access_log
    settings = GatewaySettings(**overrides)
    if settings.access_log is None:  # neither the flag nor STRATA_ACCESS_LOG: the command decides
        settings.access_log = access_log_default
    return settings


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _log_requests(enabled: bool) -> None:
    """Send ``strata.access`` lines to stderr with a timestamp (the CLI's choice, not the library's)."""
    logger = logging.getLogger("strata.access")
    if not enabled or logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a root handler someone configured would print each line twice


def _run(settings, console: Console, *, next_steps: Callable[[str, list], list[str]]) -> None:
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
    for line in next_steps(base_url, models):
        console.print(line, markup=False)
    logged = "one line per request below" if settings.access_log else "requests are not logged"
    console.print(f"Ctrl-C to stop ({logged}).")
    _log_requests(bool(settings.access_log))
    serve(app, settings)


HostOption = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
PortOption = Annotated[int, typer.Option("--port", help="TCP port.")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="strata.toml (default: $STRATA_HOME/strata.toml, else built-in models)."),
]
_ACCESS_LOG_HELP = (
    "Log one line per request to stderr: time, tenant, operation, model, status, tokens in/out, ms"
    " (never prompt text). Default: STRATA_ACCESS_LOG, else {default}."
)


def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    config: ConfigOption = None,
    access_log: Annotated[
        bool | None, typer.Option("--access-log/--no-access-log", help=_ACCESS_LOG_HELP.format(default="off"))
    ] = None,
) -> None:
    """Run the model gateway (Bedrock- and OpenAI-compatible) until Ctrl-C."""
    console = Console(highlight=False, soft_wrap=True)
    settings = _settings(host, port, config, access_log, access_log_default=False)
    writable_home(settings.state_dir())  # usage records are written on every request

    def next_steps(base_url: str, models: list) -> list[str]:
        return ["Next: strata keys create --tenant <name>   (an API key for /v1, a key pair for SigV4)"]

    _run(settings, console, next_steps=next_steps)


def _demo_keys_lines(settings) -> tuple[list[str], str | None]:
    """Issue the demo tenant's keys once (lines to print, and the API key); later runs say where they are."""
    from model_layer.auth.keystore import KeyStore

    store = KeyStore.open(settings)
    try:
        if store.list_keys(DEMO_TENANT):
            return [
                f"Demo tenant {DEMO_TENANT!r}: keys were issued on the first run (secrets are shown once).",
                f"  Another key set: strata keys create --tenant {DEMO_TENANT}"
                f"   (list: strata keys list --tenant {DEMO_TENANT})",
            ], None
        keys = store.create_keys(DEMO_TENANT)
    finally:
        store.close()
    return [
        f"Demo tenant {DEMO_TENANT!r} keys (shown once):",
        f"  OPENAI_API_KEY={keys.api_key}",
        f"  AWS_ACCESS_KEY_ID={keys.access_key_id}",
        f"  AWS_SECRET_ACCESS_KEY={keys.secret_access_key}",
    ], keys.api_key


def try_it_command(base_url: str, models: list, api_key: str | None) -> str:
    """A copy-pasteable first request: a chat completion on the first chat model, with the demo key."""
    chat = next((m.model_id for m in models if m.kind == "chat"), None)
    key = api_key or "$OPENAI_API_KEY"  # later runs: the key saved from the first one
    auth = f'-H "Authorization: Bearer {key}"'
    if chat is None:
        return f"curl -s {base_url}/v1/models {auth}"
    body = json.dumps({"model": chat, "messages": [{"role": "user", "content": "Name a planet."}]})
    json_header = "-H 'Content-Type: application/json'"
    return f"curl -s {base_url}/v1/chat/completions {auth} {json_header} -d {shlex.quote(body)}"


def up(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    access_log: Annotated[
        bool | None, typer.Option("--access-log/--no-access-log", help=_ACCESS_LOG_HELP.format(default="on"))
    ] = None,
) -> None:
    """The demo in one command: the gateway with the embedded local models and a demo tenant."""
    console = Console(highlight=False, soft_wrap=True)
    settings = _settings(host, port, None, access_log, access_log_default=True)
    writable_home(settings.state_dir())  # before loading models: the demo keys and usage go there
    check_port_free(settings.host, settings.port)  # before issuing keys nobody would see
    key_lines, api_key = _demo_keys_lines(settings)

    def next_steps(base_url: str, models: list) -> list[str]:
        return [*key_lines, "Try it:", f"  {try_it_command(base_url, models, api_key)}"]

    _run(settings, console, next_steps=next_steps)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``up`` to the root app."""
    app.command("serve")(serve)
    app.command("up")(up)
