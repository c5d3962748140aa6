"""``strata keys create|list|revoke`` and ``strata usage``: tenants, credentials, metered usage.

Thin over :class:`~model_layer.auth.keystore.KeyStore` and
:class:`~model_layer.tenancy.metering.UsageStore`, both in the gateway's state directory
(``STRATA_HOME``), so they work while a gateway is running and take effect on its next request.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from model_layer.auth.keystore import DB_FILE_NAME, KeyStore
from model_layer.settings import GatewaySettings
from strata.errors import StrataError
from strata.home import writable_home

keys_app = typer.Typer(help="Issue, list and revoke tenant credentials (SigV4 key pairs + API keys).")


def _console() -> Console:
    # Piped output is not cut to 80 columns: key ids and limits must stay whole for scripts and logs.
    probe = Console()
    return Console(highlight=False, width=None if probe.is_terminal else 160)


_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _keystore(*, write: bool) -> KeyStore | None:
    """The key store; for reading, None when none exists yet (a read creates nothing)."""
    settings = GatewaySettings()
    home = settings.state_dir()
    if write:
        writable_home(home)  # one clear line for a read-only home; tightens an old 0755 one
    elif not (home / DB_FILE_NAME).exists():
        return None
    return KeyStore.open(settings)


@keys_app.command("create")
def create(
    tenant: str = typer.Option(..., "--tenant", help="Tenant id (created on first use)."),
    rpm: int | None = typer.Option(None, "--rpm", help="Requests per minute for this tenant."),
    tpm: int | None = typer.Option(None, "--tpm", help="Tokens per minute for this tenant."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Issue an access key pair (SigV4) and an API key for TENANT; secrets are shown only once."""
    store = _keystore(write=True)
    try:
        issued = store.create_keys(tenant, requests_per_minute=rpm, tokens_per_minute=tpm)
    finally:
        store.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "tenantId": issued.tenant_id,
                    "accessKeyId": issued.access_key_id,
                    "secretAccessKey": issued.secret_access_key,
                    "apiKey": issued.api_key,
                    "requestsPerMinute": issued.requests_per_minute,
                    "tokensPerMinute": issued.tokens_per_minute,
                },
                indent=2,
            )
        )
        return
    out = _console()
    out.print(f"tenant             {issued.tenant_id}")
    out.print(f"access key id      {issued.access_key_id}")
    out.print(f"secret access key  {issued.secret_access_key}")
    out.print(f"api key            {issued.api_key}")
    limits = (
        f"{issued.requests_per_minute or 'default'} req/min, {issued.tokens_per_minute or 'default'} tok/min"
    )
    out.print(f"limits             {limits}")
    out.print("[yellow]Save the secret access key and the API key now: they are not shown again.[/]")


@keys_app.command("list")
def list_keys(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's keys."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List key sets (no secrets)."""
    store = _keystore(write=False)
    try:
        records = store.list_keys(tenant) if store else []
    finally:
        if store:
            store.close()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    table = Table("KEY ID", "TENANT", "API KEY", "CREATED", "STATUS", "RPM/TPM", box=box.SIMPLE_HEAD)
    for r in records:
        table.add_row(
            r.access_key_id,
            r.tenant_id,
            r.api_key_hint,
            r.created_at[:10],
            "active" if r.active else "revoked",
            f"{r.requests_per_minute or '-'}/{r.tokens_per_minute or '-'}",
        )
    _console().print(table)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="Access key id (AKIA…) from `strata keys list`.")) -> None:
    """Revoke a key set: its SigV4 key pair and API key stop working on the next request."""
    store = _keystore(write=True)
    try:
        record = store.revoke(key_id)
    finally:
        store.close()
    _console().print(f"revoked {record.access_key_id} (tenant {record.tenant_id})")


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``30m``/``24h``/``7d``/``2w`` ago, or an ISO-8601 date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(value.strip())
    if match:
        return now - timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise StrataError(
            f"invalid --since {value!r}", hint="use e.g. 24h, 7d or 2025-01-31T00:00:00"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def usage(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant."),
    since: str | None = typer.Option(None, "--since", help="24h, 7d, or an ISO date/time."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Metered usage and cost per tenant and model."""
    from model_layer.tenancy.metering import DB_FILE_NAME as USAGE_DB
    from model_layer.tenancy.metering import UsageStore

    since_at = parse_since(since) if since else None
    path = GatewaySettings().state_dir() / USAGE_DB
    rows = []
    if path.exists():  # nothing served yet: nothing to show, and a read creates nothing
        store = UsageStore(path)
        try:
            rows = store.summarize(tenant_id=tenant, since=since_at)
        finally:
            store.close()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    table = Table(box=box.SIMPLE_HEAD)
    for name in (
        "TENANT",
        "MODEL",
        "REQUESTS",
        "ERRORS",
        "INPUT",
        "OUTPUT",
        "CACHE R/W",
        "COST USD",
        "AVG MS",
    ):
        table.add_column(name, justify="left" if name in ("TENANT", "MODEL") else "right")
    for r in rows:
        table.add_row(
            r.tenant_id,
            r.model_id,
            str(r.requests),
            str(r.errors),
            str(r.input_tokens),
            str(r.output_tokens),
            f"{r.cache_read_input_tokens}/{r.cache_write_input_tokens}",
            f"{r.cost_usd:.6f}",
            f"{r.avg_latency_ms:.0f}",
        )
    _console().print(table if rows else "no usage recorded")


def register(app: typer.Typer) -> None:
    """Add ``keys`` and ``usage`` to the root app."""
    app.add_typer(keys_app, name="keys")
    app.command("usage")(usage)
