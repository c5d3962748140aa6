"""What a deployment's SageMaker endpoints cost per hour at their minimum size, from the catalog.

Only the endpoints are priced: ``infrastructure/catalog.py`` holds SageMaker hosting prices (with
their source and date) and nothing else. The gateway's Fargate tasks, Aurora, ElastiCache, NAT
gateway and load balancer are listed with their sizes by ``python -m cdk.costs`` for the AWS
Pricing Calculator, not priced here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdk.settings import Settings
from infrastructure.catalog import get_instance_type


@dataclass(frozen=True)
class EndpointCost:
    name: str
    instance_type: str
    instances: int  # at minimum capacity
    usd_per_instance_hour: float
    as_of: str
    estimated: bool

    @property
    def usd_per_hour(self) -> float:
        return self.instances * self.usd_per_instance_hour


def endpoint_costs(settings: Settings) -> list[EndpointCost]:
    out = []
    for spec in settings.specs():
        price = get_instance_type(spec.instance_type).sagemaker_price
        low, _ = spec.instance_range
        out.append(
            EndpointCost(spec.name, spec.instance_type, low, price.usd_per_hour, price.as_of, price.estimated)
        )
    return out


def describe(settings: Settings) -> str:
    """The endpoints' hourly cost and the other resources' sizes, as Markdown lines."""
    costs = endpoint_costs(settings)
    lines = [
        "| endpoint | instance | instances (min) | USD/hour each | USD/hour | price as of |",
        "|---|---|---|---|---|---|",
    ]
    for c in costs:
        est = " (estimate)" if c.estimated else ""
        lines.append(
            f"| {c.name} | {c.instance_type} | {c.instances} | {c.usd_per_instance_hour:.4g}{est} | "
            f"{c.usd_per_hour:.4g} | {c.as_of} |"
        )
    lines.append(f"| **total** | | | | **{sum(c.usd_per_hour for c in costs):.4g}** | |")
    g = settings.gateway
    lines += [
        "",
        f"Not in the catalog (price them in the AWS Pricing Calculator): {g.desired_count}-{g.max_count} "
        f"Fargate tasks of {g.cpu / 1024:g} vCPU / {g.memory_mib / 1024:g} GB; Aurora PostgreSQL "
        f"Serverless v2, writer + reader at {g.db_min_acu:g}-{g.db_max_acu:g} ACU; ElastiCache Redis "
        f"2 x {g.redis_node_type}; one NAT gateway; one Application Load Balancer; Secrets Manager "
        "secrets; CloudWatch logs, dashboard and alarms.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    from cdk.settings import default_context, from_context

    print(describe(from_context(default_context().get)))
