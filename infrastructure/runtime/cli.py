"""``strata runtime``: serve the SageMaker-contract container, chat, embed and count tokens locally.

Thin over the library: every command builds engines from :class:`RuntimeSettings` (env
``STRATA_*``) plus its options, and user errors are :class:`strata.errors.StrataError` lines.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from strata.errors import ConfigurationError, StrataError

err_console = Console(stderr=True, highlight=False)

runtime_app = typer.Typer(
    name="runtime",
    help="The local model runtime: a GGUF chat model (llama.cpp) and local embeddings.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``strata runtime ...`` to the root app."""
    app.add_typer(runtime_app, name="runtime")


def load_settings(**overrides: Any) -> Any:
    """Settings from the environment, with CLI options on top; bad values are one-line errors."""
    from infrastructure.runtime.settings import RuntimeSettings

    try:
        return RuntimeSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "STRATA_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigurationError(f"invalid {name}: {first['msg']}") from None


def check_port_free(host: str, port: int) -> None:
    """Fail fast, before loading any model, when another process holds the port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise StrataError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="choose another --port, or stop the process using it",
            ) from None


# SageMaker starts containers as `docker run <image> serve`, appending "serve" after the
# ENTRYPOINT (which already serves). Taken as an extra argument rather than a declared one, so
# --help shows no positional for it.
@runtime_app.command(context_settings={"allow_extra_args": True})
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 inside a container)."),
    port: int = typer.Option(8080, help="Port; SAGEMAKER_BIND_TO_PORT overrides it (SageMaker)."),
    model: str = typer.Option(None, help="GGUF file to serve (default: STRATA_MODEL_PATH or packaged)."),
    n_parallel: int = typer.Option(None, help="Concurrent slots (default: STRATA_N_PARALLEL or 4)."),
    # One explicit name: typer would otherwise also declare a "--no-no-embeddings" negation.
    no_embeddings: bool = typer.Option(False, "--no-embeddings", help="Do not load the embedding model."),
) -> None:
    """Serve GET /ping and POST /invocations (the SageMaker inference-container contract)."""
    unexpected = ctx.args[1:] if ctx.args[:1] == ["serve"] else ctx.args
    if unexpected:
        raise StrataError(
            f"unexpected argument {unexpected[0]!r}", hint="the only positional accepted is one 'serve'"
        )
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT") or port)
    check_port_free(host, port)
    settings = load_settings(model_path=model, n_parallel=n_parallel)
    chat, embedder = _load_engines(settings, embeddings=not no_embeddings)
    try:
        _run_server(chat, embedder, host, port)
    finally:
        chat.close()


def _load_engines(settings: Any, *, embeddings: bool) -> tuple[Any, Any]:
    from infrastructure.runtime.engine import create_chat_engine

    with err_console.status("loading models…"):
        chat = create_chat_engine(settings)
        embedder = None
        if embeddings:
            from infrastructure.runtime.embeddings import EmbeddingEngine

            embedder = EmbeddingEngine()
    names = ", ".join(e.model_id for e in (chat, embedder) if e is not None)
    err_console.print(f"loaded: {names}")
    return chat, embedder


def _run_server(chat: Any, embedder: Any, host: str, port: int) -> None:
    import uvicorn

    from infrastructure.runtime.container import create_app

    err_console.print(f"serving on http://{host}:{port} (GET /ping, POST /invocations) — Ctrl-C stops")
    uvicorn.run(create_app(chat, embedder), host=host, port=port, log_level="warning")


@runtime_app.command()
def chat(
    prompt: str = typer.Argument(..., metavar="PROMPT", help="What to ask the model."),
    stream: bool = typer.Option(False, "--stream", help="Print tokens as they are generated."),
    max_tokens: int = typer.Option(256, min=1, help="Upper bound on generated tokens."),
    temperature: float = typer.Option(None, min=0.0, help="Sampling temperature (0 = greedy)."),
    system: str = typer.Option(None, help="Optional system prompt."),
    json_schema: str = typer.Option(None, help="Constrain the answer to this JSON schema (file or JSON)."),
    model: str = typer.Option(None, help="GGUF file (default: STRATA_MODEL_PATH or packaged)."),
) -> None:
    """Ask the configured chat model one question."""
    from infrastructure.runtime.engine import create_chat_engine

    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    request: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens}
    if temperature is not None:
        request["temperature"] = temperature
    if json_schema:
        request["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": _read_schema(json_schema)},
        }
    engine = create_chat_engine(load_settings(model_path=model, n_parallel=1))
    try:
        if stream:
            for chunk in engine.stream_chat(request):
                for choice in chunk.get("choices") or []:
                    sys.stdout.write((choice.get("delta") or {}).get("content") or "")
                    sys.stdout.flush()
            sys.stdout.write("\n")
        else:
            typer.echo(engine.chat(request)["choices"][0]["message"]["content"])
    finally:
        engine.close()


def _read_schema(value: str) -> dict:
    text = value
    if not value.lstrip().startswith("{"):
        try:
            with open(value, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigurationError(f"cannot read JSON schema file {value!r}: {exc.strerror}") from None
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"--json-schema is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise ConfigurationError("--json-schema must be a JSON object")
    return schema


@runtime_app.command()
def embed(
    texts: Annotated[list[str], typer.Argument(metavar="TEXT", help="One or more texts to embed.")],
    full: bool = typer.Option(False, "--full", help="Print whole vectors as JSON."),
) -> None:
    """Embed texts with the local all-MiniLM-L6-v2 (384-d, unit length)."""
    from infrastructure.runtime.embeddings import EmbeddingEngine

    result = EmbeddingEngine().embed_with_usage(texts)
    if full:
        typer.echo(json.dumps({"model": EmbeddingEngine.model_id, "embeddings": result.vectors}))
        return
    for text, vector, tokens in zip(texts, result.vectors, result.token_counts, strict=True):
        head = ", ".join(f"{x:+.4f}" for x in vector[:4])
        typer.echo(f"{len(vector)}-d [{head}, …] {tokens} tokens  {text[:60]}")


@runtime_app.command("count-tokens")
def count_tokens(
    text: str = typer.Argument(..., metavar="TEXT", help="Text to tokenize with the chat model's tokenizer."),
    model: str = typer.Option(None, help="GGUF file (default: STRATA_MODEL_PATH or packaged)."),
) -> None:
    """Print the number of tokens of a text for the configured chat model."""
    from infrastructure.runtime.engine import create_chat_engine

    engine = create_chat_engine(load_settings(model_path=model, n_parallel=1))
    try:
        typer.echo(engine.count_tokens(text))
    finally:
        engine.close()
