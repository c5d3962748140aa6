"""How plans look to a person (rich tables) and to a program (JSON-ready dicts)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from infrastructure.catalog import PriceBasis
from infrastructure.planner.compare import CLAIM, Comparison
from infrastructure.planner.memory import MEMORY_RESERVE, GiB, kv_bytes_per_token, weight_bytes
from infrastructure.planner.models import ModelSpec
from infrastructure.planner.sizing import InstancePlan, Workload

METHOD = (
    "decode step = bytes read (weights + KV of each sequence at full context) / (memory bandwidth x "
    "efficiency), at least the compute time, + 2 all-reduces per layer for tp > 1; best TP x copies per "
    f"instance; {MEMORY_RESERVE:.0%} of usable accelerator memory reserved; $/1M tokens at 100% busy; "
    "prefill not modelled"
)
BASIS_LABEL: dict[str, str] = {"sagemaker": "SageMaker hosting", "ec2": "EC2"}
EFFICIENCY_NOTE = {
    "realistic": "realistic: calibrated per accelerator from published vLLM/TGI/Neuron figures "
    "(* = estimate; --ceiling for the hardware ceiling)",
    "ceiling": "ceiling: spec-sheet bandwidth and no collective latency (an upper bound)",
    "user": "as given by --utilisation, with calibrated collective latencies",
}


def model_summary(model: ModelSpec, workload: Workload) -> dict[str, Any]:
    kv_tok = kv_bytes_per_token(model, workload.kv_dtype)
    return asdict(model) | {
        "weights_gib": round(weight_bytes(model, workload.quant) / GiB, 3),
        "weights_gb": round(weight_bytes(model, workload.quant) / 1e9, 3),
        "kv_bytes_per_token": kv_tok,
        "kv_gib_per_sequence": round(kv_tok * workload.context_tokens / GiB, 4),
    }


def workload_dict(workload: Workload) -> dict[str, Any]:
    return asdict(workload) | {"efficiency": workload.efficiency_mode}


def plans_json(model: ModelSpec, workload: Workload, plans: list[InstancePlan]) -> dict[str, Any]:
    best = plans[0] if plans and plans[0].fits else None
    return {
        "model": model_summary(model, workload),
        "workload": workload_dict(workload),
        "method": METHOD,
        "price_basis": workload.price_basis,
        "recommendation": best.instance.name if best else None,
        "recommended": best.to_dict() if best else None,
        "instances": [p.to_dict() for p in plans],
    }


def _money(x: float | None, estimated: bool = False) -> str:
    return "-" if x is None else f"{'~' if estimated else ''}${x:,.3f}"


def _other(basis: PriceBasis) -> PriceBasis:
    return "ec2" if basis == "sagemaker" else "sagemaker"


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:  # pipes and tests: do not squeeze the table into 80 columns
        console = Console(highlight=False, width=220)
    return console


def _header(console: Console, model: ModelSpec, workload: Workload) -> None:
    kv_tok = kv_bytes_per_token(model, workload.kv_dtype)
    moe = f", {model.active_params_b:g}B active/token" if model.is_moe else ""
    w = weight_bytes(model, workload.quant)
    console.print(
        f"[bold]{model.name}[/] ({model.hf_id}): {model.params_b:g}B params{moe}, {workload.quant} weights "
        f"{w / GiB:.1f} GiB ({w / 1e9:.1f} GB); KV {kv_tok / 1024:g} KiB/token ({workload.kv_dtype}) = "
        f"{kv_tok * workload.context_tokens / GiB:.2f} GiB per {workload.context_tokens}-token sequence; "
        f"{workload.concurrency} concurrent sequences"
    )


def _layout(p: InstancePlan) -> str:
    return f"{p.tp_degree} x {p.replicas}" if p.tp_degree else "-"


def _eff(p: InstancePlan) -> str:
    return f"{p.efficiency.value:.2f}{'*' if p.efficiency.estimated else ''}"


def print_plans(model: ModelSpec, workload: Workload, plans: list[InstancePlan]) -> None:
    console = _console()
    _header(console, model, workload)
    basis, other = workload.price_basis, _other(workload.price_basis)
    table = Table(title="Instances ranked by $ per 1M output tokens (those that fit first)")
    for col, justify in (("#", "right"), ("instance", "left"), ("accelerators", "left"),
                         ("GiB usable", "right"), ("fits", "center"), ("TP x copies", "right"),
                         ("seqs / max", "right"), ("tok/s/seq", "right"), ("tok/s total", "right"),
                         ("eff", "right"), (f"$/h {BASIS_LABEL[basis]}", "right"),
                         (f"$/h {BASIS_LABEL[other]}", "right"), ("$/1M out", "right"),
                         ("note", "left")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for i, p in enumerate(plans, 1):
        inst = p.instance
        alt = inst.price(other)
        table.add_row(
            str(i), inst.name, f"{inst.accelerator_count}x {inst.accelerator.name}",
            f"{inst.accelerator_memory_gib:.1f}", "[green]yes[/]" if p.fits else "[red]no[/]", _layout(p),
            f"{p.concurrency} / {p.max_concurrency}", f"{p.decode_tps_per_seq:,.1f}",
            f"{p.decode_tps_aggregate:,.0f}", _eff(p), _money(p.usd_per_hour, p.price.estimated),
            _money(alt.usd_per_hour, alt.estimated), _money(p.usd_per_million_output_tokens),
            "" if p.fits else p.reason,
        )  # fmt: skip
    console.print(table)
    _footer(console, workload, plans)
    best = plans[0]
    if best.fits:
        console.print(
            f"[bold green]recommended:[/] {best.instance.name}, tensor-parallel degree {best.tp_degree} "
            f"x {best.replicas} cop{'y' if best.replicas == 1 else 'ies'} per instance, "
            f"~{best.decode_tps_per_seq:,.0f} tok/s per sequence, "
            f"{_money(best.usd_per_million_output_tokens)} per 1M output tokens ({BASIS_LABEL[basis]} price)"
        )


def _footer(console: Console, workload: Workload, plans: list[InstancePlan]) -> None:
    console.print(f"[dim]method: {METHOD}[/]")
    console.print(f"[dim]efficiency: {EFFICIENCY_NOTE[workload.efficiency_mode]}[/]")
    console.print(
        f"[dim]price basis: {BASIS_LABEL[workload.price_basis]} on-demand $/hour (--price-basis; "
        "~ = estimated); sources:[/]"
    )
    sources = sorted({(p.price.source, p.price.as_of) for p in plans})
    for source, as_of in sources:
        console.print(f"[dim]  {source} (as of {as_of})[/]")


def print_comparison(c: Comparison) -> None:
    console = _console()
    _header(console, c.model, c.workload)
    for title, rows in (("Trainium", c.trainium), ("GPU", c.gpu)):
        table = Table(title=f"{title}: at the requested workload and filled to capacity")
        for col in ("instance", "accelerators", "$/hour", "fits", "TP x copies", "$/1M @workload",
                    "seqs @full", "TP x copies @full", "tok/s @full", "$/1M @full"):  # fmt: skip
            table.add_column(col, justify="left" if col in ("instance", "accelerators") else "right")
        for r in rows:
            inst, wl, sat = r.workload.instance, r.workload, r.saturated
            table.add_row(
                inst.name, f"{inst.accelerator_count}x {inst.accelerator.name}",
                _money(wl.usd_per_hour, wl.price.estimated), "yes" if wl.fits else "no", _layout(wl),
                _money(wl.usd_per_million_output_tokens), str(sat.concurrency), _layout(sat),
                f"{sat.decode_tps_aggregate:,.0f}", _money(sat.usd_per_million_output_tokens),
            )  # fmt: skip
        console.print(table)
    _comparison_notes(console, c)


def _comparison_notes(console: Console, c: Comparison) -> None:
    console.print("[bold]assumptions[/]")
    for key in ("performance_model", "busy_hours", "tensor_parallelism", "current_gpu_instances"):
        console.print(f"  {key}: {c.assumptions[key]}")
    console.print(f"  efficiency: {EFFICIENCY_NOTE[c.workload.efficiency_mode]}")
    for name, price in c.assumptions["prices"].items():
        if name in (c.best_trainium2, c.best_current_gpu):
            console.print(f"  price {name}: ${price['usd_per_hour']}/h, {price['source']} ({price['as_of']})")
    basis = BASIS_LABEL[c.workload.price_basis]
    console.print(f"[bold]claim:[/] {CLAIM}")
    console.print(
        f"[bold]verdict ({basis} prices, filled to capacity, {c.best_trainium2} vs {c.best_current_gpu}):[/] "
        f"{c.verdict}"
    )
    for other, adv in c.by_basis.items():
        if other != c.workload.price_basis and adv.at_saturation is not None:
            console.print(
                f"on {BASIS_LABEL[other]} prices: Trainium2 gives {adv.at_saturation:+.0%} output tokens per "
                f"dollar filled to capacity ({adv.best_trainium2} vs {adv.best_current_gpu})"
            )
    if c.advantage_at_workload is not None:
        console.print(
            f"at the requested {c.workload.concurrency} sequences only: Trainium2 gives "
            f"{c.advantage_at_workload:+.0%} output tokens per dollar vs the best current GPU "
            "(a small workload leaves a 16-chip trn2.48xlarge mostly idle)"
        )
