"""How plans look to a person (rich tables) and to a program (JSON-ready dicts)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from infrastructure.planner.compare import CLAIM, Comparison
from infrastructure.planner.models import ModelSpec
from infrastructure.planner.sizing import (
    MEMORY_RESERVE,
    InstancePlan,
    Workload,
    kv_bytes_per_token,
    weight_bytes,
)

GiB = 1024**3
METHOD = (
    "decode ceiling = memory bandwidth x utilisation / (weights read per step + KV of each sequence "
    f"at full context); {MEMORY_RESERVE:.0%} of accelerator memory reserved; $/1M tokens at 100% busy; "
    "prefill not modelled"
)


def model_summary(model: ModelSpec, workload: Workload) -> dict[str, Any]:
    kv_tok = kv_bytes_per_token(model, workload.kv_dtype)
    return asdict(model) | {
        "weights_gib": round(weight_bytes(model, workload.quant) / GiB, 3),
        "kv_bytes_per_token": kv_tok,
        "kv_gib_per_sequence": round(kv_tok * workload.context_tokens / GiB, 4),
    }


def workload_dict(workload: Workload) -> dict[str, Any]:
    return asdict(workload)


def plans_json(model: ModelSpec, workload: Workload, plans: list[InstancePlan]) -> dict[str, Any]:
    best = plans[0] if plans and plans[0].fits else None
    return {
        "model": model_summary(model, workload),
        "workload": workload_dict(workload),
        "method": METHOD,
        "recommendation": best.instance.name if best else None,
        "instances": [p.to_dict() for p in plans],
    }


def _money(x: float | None) -> str:
    return "-" if x is None else f"${x:,.3f}"


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:  # pipes and tests: do not squeeze the table into 80 columns
        console = Console(highlight=False, width=200)
    return console


def _header(console: Console, model: ModelSpec, workload: Workload) -> None:
    kv_tok = kv_bytes_per_token(model, workload.kv_dtype)
    moe = f", {model.active_params_b:g}B active/token" if model.is_moe else ""
    console.print(
        f"[bold]{model.name}[/] ({model.hf_id}): {model.params_b:g}B params{moe}, {workload.quant} weights "
        f"{weight_bytes(model, workload.quant) / GiB:.1f} GiB; KV {kv_tok / 1024:g} KiB/token "
        f"({workload.kv_dtype}) = {kv_tok * workload.context_tokens / GiB:.2f} GiB per "
        f"{workload.context_tokens}-token sequence; {workload.concurrency} concurrent sequences"
    )


def print_plans(model: ModelSpec, workload: Workload, plans: list[InstancePlan]) -> None:
    console = _console()
    _header(console, model, workload)
    table = Table(title="Instances ranked by $ per 1M output tokens (those that fit first)")
    for col, justify in (("#", "right"), ("instance", "left"), ("accelerators", "left"),
                         ("mem GiB", "right"), ("fits", "center"), ("TP x replicas", "right"),
                         ("seqs / max", "right"), ("tok/s/seq", "right"), ("tok/s total", "right"),
                         ("$/hour", "right"), ("$/1M out", "right"), ("note", "left")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for i, p in enumerate(plans, 1):
        inst = p.instance
        tp = f"{p.tp_degree} x {p.replicas}" if p.tp_degree else "-"
        table.add_row(
            str(i), inst.name, f"{inst.accelerator_count}x {inst.accelerator.name}",
            f"{inst.accelerator_memory_gib:g}", "[green]yes[/]" if p.fits else "[red]no[/]", tp,
            f"{p.concurrency} / {p.max_concurrency}", f"{p.decode_tps_per_seq:,.1f}",
            f"{p.decode_tps_aggregate:,.0f}", _money(inst.price.usd_per_hour),
            _money(p.usd_per_million_output_tokens), "" if p.fits else p.reason,
        )  # fmt: skip
    console.print(table)
    console.print(f"[dim]method: {METHOD}[/]")
    sources = sorted({(p.instance.price.source, p.instance.price.as_of) for p in plans})
    for source, as_of in sources:
        console.print(f"[dim]prices: {source} (as of {as_of})[/]")
    best = plans[0]
    console.print(
        f"[bold green]recommended:[/] {best.instance.name}, tensor-parallel degree {best.tp_degree} "
        f"x {best.replicas} replica(s), ~{best.decode_tps_per_seq:,.0f} tok/s per sequence, "
        f"{_money(best.usd_per_million_output_tokens)} per 1M output tokens"
    )


def print_comparison(c: Comparison) -> None:
    console = _console()
    _header(console, c.model, c.workload)
    for title, rows in (("Trainium", c.trainium), ("GPU", c.gpu)):
        table = Table(title=f"{title}: at the requested workload and filled to capacity")
        for col in ("instance", "accelerators", "$/hour", "fits", "$/1M @workload", "seqs @full",
                    "tok/s @full", "$/1M @full"):  # fmt: skip
            table.add_column(col, justify="left" if col in ("instance", "accelerators") else "right")
        for r in rows:
            inst, wl, sat = r.workload.instance, r.workload, r.saturated
            table.add_row(
                inst.name, f"{inst.accelerator_count}x {inst.accelerator.name}",
                _money(inst.price.usd_per_hour),
                "yes" if wl.fits else "no", _money(wl.usd_per_million_output_tokens),
                str(sat.concurrency), f"{sat.decode_tps_aggregate:,.0f}",
                _money(sat.usd_per_million_output_tokens),
            )  # fmt: skip
        console.print(table)
    console.print("[bold]assumptions[/]")
    for key, value in c.assumptions.items():
        if key != "prices":
            console.print(f"  {key}: {value}")
    for name, price in c.assumptions["prices"].items():
        if name in (c.best_trainium2, c.best_current_gpu):
            console.print(f"  price {name}: ${price['usd_per_hour']}/h, {price['source']} ({price['as_of']})")
    console.print(f"[bold]claim:[/] {CLAIM}")
    console.print(
        f"[bold]verdict (filled to capacity, {c.best_trainium2} vs {c.best_current_gpu}):[/] {c.verdict}"
    )
    if c.advantage_at_workload is not None:
        console.print(
            f"at the requested {c.workload.concurrency} sequences only: Trainium2 gives "
            f"{c.advantage_at_workload:+.0%} output tokens per dollar vs the best current GPU "
            "(a small workload leaves a 16-chip trn2.48xlarge mostly idle)"
        )
