"""``strata tenants list|show|set`` and ``strata usage``: what tenants may do, and what they used.

Thin over the key store (tenant policies: rate limits, per-model limits, allowed models, daily
and monthly budgets) and the usage records in the shared state, so it works beside running
gateways and against a PostgreSQL shared by many replicas (``STRATA_STATE_URL``). The admin API
(``/strata/v1/admin/...``) offers the same over HTTP.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from model_layer.auth.cli import _RELATIVE, _UNIT_SECONDS, open_keystore, state_exists
from model_layer.settings import GatewaySettings
from model_layer.state import UNSET, TenantRecord
from strata.errors import StrataError

_UNSET_HELP = "Back to the default: rpm, tpm, models, daily-budget, monthly-budget (repeatable)."
tenants_app = typer.Typer(help="Tenants' limits, allowed models and budgets.")

_CLEARABLE = {
    "rpm": "requests_per_minute",
    "tpm": "tokens_per_minute",
    "models": "allowed_models",
    "daily-budget": "daily_budget_usd",
    "monthly-budget": "monthly_budget_usd",
}


def _console() -> Console:
    probe = Console()
    return Console(highlight=False, width=None if probe.is_terminal else 160)


def parse_since(value: str, now: datetime | None = None, option: str = "--since") -> datetime:
    """``30m``/``24h``/``7d``/``2w`` ago, or an ISO-8601 date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(value.strip())
    if match:
        return now - timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise StrataError(
            f"invalid {option} {value!r}", hint="use e.g. 24h, 7d or 2025-01-31T00:00:00"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_model_limit(value: str) -> dict[str, Any]:
    """``MODEL=RPM/TPM`` (either side may be ``-``; ``MODEL=-/-`` removes the limit)."""
    model, sep, limits = value.rpartition("=")
    rpm, slash, tpm = limits.partition("/")
    if not sep or not model or not slash:
        raise StrataError(
            f"invalid --model-limit {value!r}", hint="use MODEL=RPM/TPM, e.g. meta.x-v1:0=60/20000"
        )
    try:
        numbers = [None if part.strip() in ("", "-") else int(part) for part in (rpm, tpm)]
    except ValueError:
        raise StrataError(f"invalid --model-limit {value!r}", hint="limits are whole numbers or -") from None
    return {"model_id": model, "requests_per_minute": numbers[0], "tokens_per_minute": numbers[1]}


def tenant_dict(record: TenantRecord) -> dict[str, Any]:
    return record.to_dict()


def _print_tenant(record: TenantRecord) -> None:
    out = _console()
    models = "all" if record.allowed_models is None else ", ".join(record.allowed_models) or "none"
    out.print(f"tenant           {record.tenant_id}   (since {record.created_at[:10]})")
    out.print(f"limits           {record.requests_per_minute or 'default'} req/min, "
              f"{record.tokens_per_minute or 'default'} tok/min")  # fmt: skip
    out.print(f"models           {models}")
    budgets = f"daily {_usd(record.daily_budget_usd)}, monthly {_usd(record.monthly_budget_usd)}"
    out.print(f"budgets          {budgets}")
    for limit in record.model_limits:
        out.print(
            f"model limit      {limit.model_id}: {limit.requests_per_minute or '-'} req/min, "
            f"{limit.tokens_per_minute or '-'} tok/min"
        )


def _usd(value: float | None) -> str:
    return "none" if value is None else f"${value:.2f}"


@tenants_app.command("list")
def list_tenants(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List tenants and their limits."""
    store = open_keystore(write=False)
    try:
        records = store.list_tenants() if store else []
    finally:
        if store:
            store.close()
    if as_json:
        typer.echo(json.dumps([tenant_dict(r) for r in records], indent=2))
        return
    table = Table("TENANT", "RPM/TPM", "MODELS", "DAILY", "MONTHLY", "MODEL LIMITS", box=box.SIMPLE_HEAD)
    for r in records:
        models = str(len(r.allowed_models)) if r.allowed_models is not None else "all"
        table.add_row(
            r.tenant_id,
            f"{r.requests_per_minute or '-'}/{r.tokens_per_minute or '-'}",
            models,
            _usd(r.daily_budget_usd),
            _usd(r.monthly_budget_usd),
            str(len(r.model_limits)),
        )
    _console().print(table if records else "no tenants")


@tenants_app.command("show")
def show(
    tenant: str = typer.Argument(..., help="Tenant id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one tenant's limits, models and budgets."""
    store = open_keystore(write=False)
    try:
        record = store.get_tenant(tenant) if store else None
    finally:
        if store:
            store.close()
    if record is None:
        raise StrataError(f"no tenant {tenant!r}", hint="see `strata tenants list`")
    if as_json:
        typer.echo(json.dumps(tenant_dict(record), indent=2))
    else:
        _print_tenant(record)


@tenants_app.command("set")
def set_tenant(
    tenant: str = typer.Argument(..., help="Tenant id (created if new)."),
    rpm: int | None = typer.Option(None, "--rpm", help="Requests per minute."),
    tpm: int | None = typer.Option(None, "--tpm", help="Tokens per minute."),
    models: str | None = typer.Option(
        None, "--models", metavar="ID,ID", help="Only these model ids (comma-separated)."
    ),
    daily_budget: float | None = typer.Option(
        None, "--daily-budget", metavar="USD", help="Spend per UTC day."
    ),
    monthly_budget: float | None = typer.Option(
        None, "--monthly-budget", metavar="USD", help="Spend per UTC month."
    ),
    model_limit: list[str] = typer.Option(  # noqa: B008 - typer's way to declare a repeatable option
        [], "--model-limit", metavar="MODEL=RPM/TPM", help="Limits on one model (repeatable; - for none)."
    ),
    unset: list[str] = typer.Option(  # noqa: B008 - typer declares repeatable options this way
        [], "--unset", metavar="FIELD", help=_UNSET_HELP
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Change a tenant's limits, allowed models or budgets; unnamed settings keep their value."""
    changes: dict[str, Any] = {
        "requests_per_minute": rpm if rpm is not None else UNSET,
        "tokens_per_minute": tpm if tpm is not None else UNSET,
        "allowed_models": [m.strip() for m in models.split(",") if m.strip()]
        if models is not None
        else UNSET,
        "daily_budget_usd": daily_budget if daily_budget is not None else UNSET,
        "monthly_budget_usd": monthly_budget if monthly_budget is not None else UNSET,
    }
    for name in unset:
        if name not in _CLEARABLE:
            raise StrataError(f"cannot --unset {name!r}", hint=f"choose from {', '.join(_CLEARABLE)}")
        changes[_CLEARABLE[name]] = None
    limits = [parse_model_limit(v) for v in model_limit]
    store = open_keystore(write=True)
    assert store is not None
    try:
        record = store.set_tenant(tenant, model_limits=limits, **changes)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(tenant_dict(record), indent=2))
    else:
        _print_tenant(record)


def usage(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant."),
    since: str | None = typer.Option(None, "--since", help="24h, 7d, or an ISO date/time."),
    until: str | None = typer.Option(None, "--until", help="An ISO date/time, or 24h (ago)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Metered usage and cost per tenant and model."""
    from model_layer.state import open_state

    since_at = parse_since(since) if since else None
    until_at = parse_since(until, option="--until") if until else None
    settings = GatewaySettings()
    rows = []
    if state_exists(settings):  # nothing served yet: nothing to show, and a read creates nothing
        state = open_state(settings)
        try:
            rows = state.usage.summarize(tenant_id=tenant, since=since_at, until=until_at)
        finally:
            state.close()
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
    """Add ``tenants`` and ``usage`` to the root app."""
    app.add_typer(tenants_app, name="tenants")
    app.command("usage")(usage)
