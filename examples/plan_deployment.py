"""Plan where to deploy Llama-3.1-8B for a chat workload, using the planner as a library.

    .venv/bin/python examples/plan_deployment.py [--context 8192] [--concurrency 16] [--quant bf16]
                                                 [--price-basis sagemaker|ec2] [--ceiling]

Prints the three cheapest instance types per output token that fit, each in its best layout
(tensor-parallel degree x copies per instance), and the recommendation — the configuration
``strata provision`` deploys for the same model and workload.
"""

from __future__ import annotations

import argparse
import sys

from infrastructure.planner import Workload, get_model_preset, plan, recommend
from strata.errors import StrataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=8192)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quant", default="bf16")
    parser.add_argument("--price-basis", default="sagemaker", choices=["sagemaker", "ec2"])
    parser.add_argument(
        "--ceiling", action="store_true", help="hardware ceiling instead of realistic figures"
    )
    args = parser.parse_args(argv)
    try:
        model = get_model_preset("llama-3.1-8b")
        workload = Workload(
            args.context, args.concurrency, args.quant, ceiling=args.ceiling, price_basis=args.price_basis
        )
        best = recommend(model, workload)
    except StrataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{model.hf_id}: {args.concurrency} sequences x {args.context} tokens, {args.quant}; "
        f"{workload.efficiency_mode} efficiency, {args.price_basis} prices"
    )
    for p in [p for p in plan(model, workload) if p.fits][:3]:
        copies = f"{p.copies} cop{'y' if p.copies == 1 else 'ies'}"
        print(
            f"  {p.instance.name:18} tp={p.tp_degree:<2} x {copies:<8} "
            f"{p.decode_tps_aggregate:8,.0f} tok/s ${p.usd_per_hour:7.3f}/h  "
            f"${p.usd_per_million_output_tokens:.3f} per 1M output tokens"
        )
    print(
        f"recommendation: {best.instance.name} with tensor-parallel degree {best.tp_degree} "
        f"x {best.copies} cop{'y' if best.copies == 1 else 'ies'} per instance, "
        f"~{best.decode_tps_per_seq:.0f} tok/s per sequence, "
        f"${best.usd_per_million_output_tokens:.3f} per 1M output tokens"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
