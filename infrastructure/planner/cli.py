"""``strata plan``: size a model and workload against the instance catalog (thin over the library)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from infrastructure.catalog import get_instance_type, instance_types
from infrastructure.planner.compare import compare
from infrastructure.planner.models import (
    PRESETS,
    ModelSpec,
    custom_model,
    get_model_preset,
    model_from_hf_config,
)
from infrastructure.planner.ranking import capacity_error, plan
from infrastructure.planner.render import plans_json, print_comparison, print_plans
from infrastructure.planner.sizing import DEFAULT_CONCURRENCY, DEFAULT_CONTEXT_TOKENS, Workload
from strata.errors import ConfigurationError


def _choose_model(
    model: str | None, hf_config: Path | None, params_b: float | None, shape: dict[str, int | float | None]
) -> ModelSpec:
    chosen = [
        flag for flag, v in (("--model", model), ("--hf-config", hf_config), ("--params-b", params_b)) if v
    ]
    if len(chosen) != 1:
        raise ConfigurationError(
            "give exactly one of --model, --hf-config or --params-b (with --layers --kv-heads --head-dim)",
            hint=f"presets: {', '.join(PRESETS)}",
        )
    if model:
        return get_model_preset(model)
    if hf_config:
        return model_from_hf_config(hf_config)
    missing = [f"--{k.replace('_', '-')}" for k in ("layers", "kv_heads", "head_dim") if not shape.get(k)]
    if missing:
        raise ConfigurationError(f"--params-b needs {' '.join(missing)} as well")
    kwargs = {k: v for k, v in shape.items() if v is not None}
    return custom_model(params_b=params_b, **kwargs)  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    """Add ``plan`` to the root app."""

    @app.command("plan")
    def plan_command(
        model: Annotated[
            str | None, typer.Option("--model", "-m", help=f"Preset: {', '.join(PRESETS)}.")
        ] = None,
        hf_config: Annotated[
            Path | None, typer.Option("--hf-config", help="A Hugging Face config.json.")
        ] = None,
        params_b: Annotated[
            float | None, typer.Option("--params-b", help="Custom model: total params (B).")
        ] = None,
        layers: Annotated[int | None, typer.Option("--layers", help="Custom model: decoder layers.")] = None,
        kv_heads: Annotated[int | None, typer.Option("--kv-heads", help="Custom model: KV heads.")] = None,
        head_dim: Annotated[
            int | None, typer.Option("--head-dim", help="Custom model: head dimension.")
        ] = None,
        attention_heads: Annotated[
            int | None, typer.Option("--attention-heads", help="Custom: query heads.")
        ] = None,
        active_params_b: Annotated[
            float | None, typer.Option("--active-params-b", help="Custom MoE: active (B).")
        ] = None,
        experts: Annotated[
            int | None, typer.Option("--experts", help="Custom MoE: experts per layer.")
        ] = None,
        experts_per_token: Annotated[
            int | None, typer.Option("--experts-per-token", help="Custom MoE: top-k.")
        ] = None,
        max_context: Annotated[
            int | None, typer.Option("--max-context", help="Custom model: max context.")
        ] = None,
        context: Annotated[
            int, typer.Option("--context", help="Tokens per sequence (prompt + output).")
        ] = DEFAULT_CONTEXT_TOKENS,
        concurrency: Annotated[
            int, typer.Option("--concurrency", help="Sequences decoded at once (per instance).")
        ] = DEFAULT_CONCURRENCY,
        quant: Annotated[
            str, typer.Option("--quant", help="Weights: bf16, fp16, fp8, int8 or int4.")
        ] = "bf16",
        kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="KV cache: bf16, fp16 or fp8.")] = "bf16",
        utilisation: Annotated[
            float | None,
            typer.Option("--utilisation", help="Fraction of peak bandwidth (default: calibrated per chip)."),
        ] = None,
        ceiling: Annotated[
            bool, typer.Option("--ceiling", help="Hardware ceiling: full bandwidth, no collective latency.")
        ] = False,
        price_basis: Annotated[
            str | None,
            typer.Option("--price-basis", help="sagemaker or ec2 (default: sagemaker; ec2 with --compare)."),
        ] = None,
        instance: Annotated[
            list[str] | None, typer.Option("--instance", metavar="TYPE", help="Only these (repeatable).")
        ] = None,
        prices: Annotated[Path | None, typer.Option("--prices", help="JSON file overriding prices.")] = None,
        compare_: Annotated[
            bool, typer.Option("--compare", help="Trainium vs GPU, and the Trn2 claim.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    ) -> None:
        """Which instance types fit a model and workload, how fast they decode, what a token costs."""
        shape = dict(
            layers=layers, kv_heads=kv_heads, head_dim=head_dim, num_attention_heads=attention_heads,
            active_params_b=active_params_b, num_experts=experts, experts_per_token=experts_per_token,
            max_context=max_context,
        )  # fmt: skip
        spec = _choose_model(model, hf_config, params_b, shape)
        basis = (price_basis or ("ec2" if compare_ else "sagemaker")).lower()
        workload = Workload(
            context,
            concurrency,
            quant.lower(),
            kv_dtype.lower(),
            utilisation,
            ceiling,
            basis,  # type: ignore[arg-type]
        )
        pool = (
            tuple(get_instance_type(name, prices) for name in instance)
            if instance
            else instance_types(prices)
        )
        if compare_:
            result = compare(spec, workload, pool)
            if as_json:
                typer.echo(json.dumps(result.to_dict(), indent=2))
            else:
                print_comparison(result)
            return
        plans = plan(spec, workload, pool)
        if as_json:
            typer.echo(json.dumps(plans_json(spec, workload, plans), indent=2))
        else:
            print_plans(spec, workload, plans)
        if not plans[0].fits:  # the rows above say why; the error says what would be needed
            raise capacity_error(spec, workload, plans)
