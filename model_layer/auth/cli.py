"""``strata keys create|list|revoke|rotate``: the credentials issued to tenants.

Thin over :class:`~model_layer.auth.keystore.KeyStore` on the shared state (``STRATA_HOME``'s
``strata.db``, or ``[state] url`` / ``STRATA_STATE_URL`` for PostgreSQL), so they work while
gateways are running: a change takes effect on the gateway's next request on this host, and on
every replica within ``[state] poll_interval_s``. Reads create nothing and change no file mode.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from model_layer.auth.keystore import IssuedKeys, KeyStore
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


def parse_duration(value: str, option: str) -> timedelta:
    """``90s``/``30m``/``24h``/``7d``/``2w`` as a duration."""
    match = _RELATIVE.match(value.strip())
    if not match:
        raise StrataError(f"invalid {option} {value!r}", hint="use e.g. 30m, 24h, 90d or 2w")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def state_exists(settings: GatewaySettings) -> bool:
    """Whether there is state to read (a read must not create a SQLite file)."""
    from model_layer.state import state_url

    url = state_url(settings)
    if not url.startswith("sqlite"):
        return True
    home = settings.state_dir()
    return any((home / name).exists() for name in ("strata.db", "keys.db", "usage.db"))


def open_keystore(*, write: bool) -> KeyStore | None:
    """The key store; for reading, None when none exists yet (a read creates nothing)."""
    settings = GatewaySettings()
    home = settings.state_dir()
    if write:
        writable_home(home)  # one clear line for a read-only home; tightens an old 0755 one
    elif not state_exists(settings):
        return None
    return KeyStore.open(settings)


def _print_issued(issued: IssuedKeys, as_json: bool) -> None:
    if as_json:
        payload = {
            "tenantId": issued.tenant_id,
            "accessKeyId": issued.access_key_id,
            "secretAccessKey": issued.secret_access_key,
            "apiKey": issued.api_key,
            "requestsPerMinute": issued.requests_per_minute,
            "tokensPerMinute": issued.tokens_per_minute,
            "expiresAt": issued.expires_at,
        }
        typer.echo(json.dumps(payload, indent=2))
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
    out.print(f"expires            {issued.expires_at or 'never'}")
    out.print("[yellow]Save the secret access key and the API key now: they are not shown again.[/]")


@keys_app.command("create")
def create(
    tenant: str = typer.Option(..., "--tenant", help="Tenant id (created on first use)."),
    rpm: int | None = typer.Option(None, "--rpm", help="Requests per minute for this tenant."),
    tpm: int | None = typer.Option(None, "--tpm", help="Tokens per minute for this tenant."),
    expires_in: str | None = typer.Option(
        None, "--expires-in", metavar="DURATION", help="Expire the keys after e.g. 90d (default: never)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Issue an access key pair (SigV4) and an API key for TENANT; secrets are shown only once."""
    expiry = parse_duration(expires_in, "--expires-in") if expires_in else None
    store = open_keystore(write=True)
    assert store is not None
    try:
        issued = store.create_keys(tenant, requests_per_minute=rpm, tokens_per_minute=tpm, expires_in=expiry)
    finally:
        store.close()
    _print_issued(issued, as_json)


@keys_app.command("list")
def list_keys(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's keys."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List key sets (no secrets)."""
    store = open_keystore(write=False)
    try:
        records = store.list_keys(tenant) if store else []
    finally:
        if store:
            store.close()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    table = Table(
        "KEY ID", "TENANT", "API KEY", "CREATED", "EXPIRES", "STATUS", "RPM/TPM", box=box.SIMPLE_HEAD
    )
    for r in records:
        table.add_row(
            r.access_key_id,
            r.tenant_id,
            r.api_key_hint,
            r.created_at[:10],
            (r.expires_at or "-")[:16],
            r.status,
            f"{r.requests_per_minute or '-'}/{r.tokens_per_minute or '-'}",
        )
    _console().print(table)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="Access key id (AKIA…) from `strata keys list`.")) -> None:
    """Revoke a key set: its SigV4 key pair and API key stop working on the next request."""
    store = open_keystore(write=True)
    assert store is not None
    try:
        record = store.revoke(key_id)
    finally:
        store.close()
    _console().print(f"revoked {record.access_key_id} (tenant {record.tenant_id})")


@keys_app.command("rotate")
def rotate(
    key_id: str = typer.Argument(..., help="Access key id (AKIA…) of the key set to replace."),
    grace: str = typer.Option(
        "24h", "--grace", metavar="DURATION", help="How long the old keys keep working (0s: not at all)."
    ),
    expires_in: str | None = typer.Option(
        None, "--expires-in", metavar="DURATION", help="Expire the new keys after e.g. 90d (default: never)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Issue new keys for KEY_ID's tenant; the old set expires after the grace period."""
    grace_period = timedelta(0) if grace.strip() in ("0", "0s") else parse_duration(grace, "--grace")
    expiry = parse_duration(expires_in, "--expires-in") if expires_in else None
    store = open_keystore(write=True)
    assert store is not None
    try:
        issued = store.rotate(key_id, grace=grace_period, expires_in=expiry)
        old = store.list_keys(access_key_id=key_id)[0]
    finally:
        store.close()
    _print_issued(issued, as_json)
    if not as_json:
        _console().print(
            f"{key_id} keeps working until {old.expires_at}; then only {issued.access_key_id} does."
        )


def register(app: typer.Typer) -> None:
    """Add ``keys`` to the root app."""
    app.add_typer(keys_app, name="keys")
