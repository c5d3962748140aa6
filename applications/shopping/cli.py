"""``strata shop``: load a store, ask one question (``--json`` for scripts), chat, serve the page.

Registered through the ``strata.commands`` entry point like every layer's commands. The commands
talk to a running gateway (``--url``, default ``$STRATA_SHOP_URL`` or http://127.0.0.1:8000) with
an API key (``--api-key`` / ``$STRATA_SHOP_API_KEY``) or an access key pair, only through the SDK.
"""

from __future__ import annotations

import json
import socket
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from applications.shopping.catalog import load_catalog, load_policies
from applications.shopping.loader import DEMO_CATALOG, DEMO_POLICIES, load_store
from applications.shopping.shop import ShopNotLoaded, ShopSettings, open_shop
from model_layer.sdk import GuardrailsClient, KnowledgeBasesClient, StrataAPIError
from strata.errors import ConfigurationError, StrataError

shop_app = typer.Typer(help="The shopping assistant: load a catalog, ask, chat, serve the web page.")

UrlOption = Annotated[str | None, typer.Option("--url", help="The gateway's base URL.")]
KeyOption = Annotated[
    str | None, typer.Option("--api-key", help="A gateway API key (or $STRATA_SHOP_API_KEY).")
]
HomeOption = Annotated[Path | None, typer.Option("--home", help="The app's state folder.")]
ModelOption = Annotated[str | None, typer.Option("--model", help="The chat model id.")]


def _settings(
    url: str | None, api_key: str | None, home: Path | None, model: str | None = None
) -> ShopSettings:
    return ShopSettings.from_env(url=url, api_key=api_key, home=home, model_id=model)


def _gateway_error(exc: StrataAPIError, url: str) -> StrataError:
    return StrataError(f"the gateway at {url} refused or did not answer: {exc}")


@shop_app.command("load")
def load(
    catalog: Annotated[Path, typer.Option("--catalog", help="Products as JSONL.")] = DEMO_CATALOG,
    policies: Annotated[
        Path | None, typer.Option("--policies", help="Store policies as Markdown.")
    ] = DEMO_POLICIES,
    name: Annotated[str, typer.Option("--name", help="The store's name (its knowledge base).")] = "default",
    guardrail: Annotated[
        bool, typer.Option("--guardrail/--no-guardrail", help="Create the store's guardrail.")
    ] = True,
    url: UrlOption = None,
    api_key: KeyOption = None,
    home: HomeOption = None,
) -> None:
    """Load a catalog (and policies) into a knowledge base; bad lines are reported and skipped."""
    settings = _settings(url, api_key, home)
    for path in (catalog, policies):
        if path is not None and not path.is_file():
            raise ConfigurationError(f"no such file: {path}")
    parsed = load_catalog(catalog)
    for err in parsed.errors:
        typer.echo(f"{catalog}: skipped {err}", err=True)
    if not parsed.products:
        raise ConfigurationError(f"{catalog} has no valid product line", hint="see the format in the README")
    sections = load_policies(policies) if policies else []
    options = settings.client_options()
    try:
        with (
            KnowledgeBasesClient(settings.url, **options) as kbs,
            GuardrailsClient(settings.url, **options) as guards,
        ):
            state = load_store(
                settings.home,
                parsed,
                catalog,
                sections,
                policies,
                kbs=kbs,
                guards=guards if guardrail else None,
                name=name,
            )
    except StrataAPIError as exc:
        raise _gateway_error(exc, settings.url) from None
    typer.echo(
        f"loaded {state.products} products ({len(parsed.errors)} lines skipped) and {state.policy_sections} "
        f"policy sections into knowledge base {state.knowledge_base_id}"
        + (
            f"; guardrail {state.guardrail_id} version {state.guardrail_version}"
            if state.guardrail_id
            else ""
        )
    )


def _open(settings: ShopSettings):
    try:
        return open_shop(settings)
    except ShopNotLoaded as exc:
        raise ConfigurationError(str(exc)) from None


def _print_answer(answer: Any) -> None:
    typer.echo(answer.answer)
    cites = answer.citations
    if cites["products"] or cites["policies"]:
        typer.echo("sources: " + ", ".join([*cites["products"], *(f"policy:{p}" for p in cites["policies"])]))
    if answer.cart.get("lines"):
        cart = answer.cart
        typer.echo(
            f"cart: {cart['items']} item(s), subtotal ${cart['subtotal']:.2f}, total ${cart['total']:.2f}"
        )


@shop_app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="The shopper's question.")],
    session: Annotated[str | None, typer.Option("--session", help="A session id (keeps the cart).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print answer, citations, tool calls, cart as JSON.")
    ] = False,
    url: UrlOption = None,
    api_key: KeyOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
) -> None:
    """Ask one question; the answer, its sources and the cart (``--json``: everything as JSON)."""
    shop = _open(_settings(url, api_key, home, model))
    try:
        answer = shop.assistant.ask(question, session or uuid.uuid4().hex)
    finally:
        shop.close()
    if as_json:
        typer.echo(json.dumps(answer.to_json(), indent=2, default=str))
    else:
        _print_answer(answer)
        if answer.error:
            typer.echo(answer.error, err=True)
    if answer.error:
        raise typer.Exit(2)


@shop_app.command("chat")
def chat(
    session: Annotated[str | None, typer.Option("--session", help="A session id (keeps the cart).")] = None,
    url: UrlOption = None,
    api_key: KeyOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
) -> None:
    """Chat in the terminal; answers stream. ``/cart`` shows the cart, ``/quit`` (or Ctrl-D) leaves."""
    shop = _open(_settings(url, api_key, home, model))
    session_id = session or uuid.uuid4().hex
    typer.echo(f"{shop.state.products} products loaded. Session {session_id}. /cart, /quit")
    try:
        for line in sys.stdin if not sys.stdin.isatty() else iter(lambda: input("you> "), None):
            text = line.strip()
            if text in ("/quit", "/exit"):
                break
            if text == "/cart":
                typer.echo(json.dumps(shop.sessions.view(session_id, shop.catalog), indent=2))
            elif text:
                _chat_turn(shop, text, session_id)
    except EOFError:
        pass
    finally:
        shop.close()


def _chat_turn(shop: Any, text: str, session_id: str) -> None:
    typer.echo("shop> ", nl=False)
    for event in shop.assistant.stream(text, session_id):
        if event["type"] == "text":
            typer.echo(event["text"], nl=False)
        elif event["type"] == "error":
            typer.echo(event["message"], nl=False)
        elif event["type"] == "done":
            cites = event["answer"].citations
            sources = [*cites["products"], *(f"policy:{p}" for p in cites["policies"])]
            typer.echo(f"\n  sources: {', '.join(sources)}" if sources else "")


@shop_app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The port to listen on.")] = 8080,
    url: UrlOption = None,
    api_key: KeyOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
) -> None:
    """Serve the web page (streaming chat, product cards, citations, cart) for the loaded store."""
    _serve_page(_settings(url, api_key, home, model), port, host)


def _serve_page(settings: ShopSettings, port: int, host: str = "127.0.0.1") -> None:
    import uvicorn

    from applications.shopping.web import create_web_app

    shop = _open(settings)
    # bound and listening before the URL is printed: whoever opens it at once is queued, not refused
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        shop.close()
        sock.close()
        raise StrataError(f"cannot serve the page on {host}:{port}: {exc.strerror}") from None
    page = f"http://{host}:{port}/"
    typer.echo(f"Shopping assistant on {page}  ({shop.state.products} products, gateway {settings.url})")
    typer.echo("Ctrl-C to stop.")
    try:
        config = uvicorn.Config(create_web_app(shop), log_level="warning")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        shop.close()


@shop_app.command("demo")
def demo(
    port: Annotated[int, typer.Option("--port", help="The page's port.")] = 8080,
    gateway_port: Annotated[int, typer.Option("--gateway-port", help="The gateway's port.")] = 8000,
    home: HomeOption = None,
    model: ModelOption = None,
) -> None:
    """What ``make run`` runs: start the gateway (``strata up``), load the demo store, serve the page."""
    from applications.shopping.demo_run import run_demo

    settings = _settings(None, None, home, model)
    try:
        run_demo(settings, gateway_port=gateway_port, page_port=port, serve_page=_serve_page)
    except StrataAPIError as exc:
        raise _gateway_error(exc, settings.url) from None


def register(app: typer.Typer) -> None:
    """Entry point of the ``strata.commands`` group: adds ``strata shop``."""
    app.add_typer(shop_app, name="shop")
