"""The gateway's CloudWatch dashboard and alarms: 5xx rate, p99 latency, throttles.

The 5xx rate is the targets' 5xx count over all requests (ALB metrics); p99 is the ALB's target
response time; throttles are the gateway's own 429s (rate limits and budgets), counted from its
access log (``status=429`` in each ``strata.access`` line) by a metric filter.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from constructs import Construct

FIVE_MIN = cdk.Duration.minutes(5)
NAMESPACE = "strata/gateway"


def _alarm(
    scope: Construct,
    id: str,
    metric: cw.IMetric,
    threshold: float,
    why: str,
    periods: tuple[int, int] = (1, 1),
) -> cw.Alarm:
    """Alarm when ``periods[1]`` of the last ``periods[0]`` 5-minute periods breach; no data is fine."""
    return cw.Alarm(
        scope,
        id,
        metric=metric,
        threshold=threshold,
        evaluation_periods=periods[0],
        datapoints_to_alarm=periods[1],
        alarm_description=why,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
    )


def gateway_monitoring(
    scope: Construct,
    alb: elbv2.ApplicationLoadBalancer,
    service: ecs.FargateService,
    log_group: logs.LogGroup,
) -> cw.Dashboard:
    requests = alb.metrics.request_count(period=FIVE_MIN)
    errors = alb.metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=FIVE_MIN)
    rate = cw.MathExpression(
        expression="100 * errors / MAX([requests, 1])",
        using_metrics={"errors": errors, "requests": requests},
        label="5xx rate (%)",
        period=FIVE_MIN,
    )
    p99 = alb.metrics.target_response_time(statistic="p99", period=FIVE_MIN)
    logs.MetricFilter(
        scope,
        "ThrottleFilter",
        log_group=log_group,
        metric_namespace=NAMESPACE,
        metric_name="Throttles",
        filter_pattern=logs.FilterPattern.literal('"status=429"'),
        metric_value="1",
        default_value=0,
    )
    throttles = cw.Metric(namespace=NAMESPACE, metric_name="Throttles", statistic="Sum", period=FIVE_MIN)
    alarms = [
        _alarm(scope, "FiveXxRate", rate, 1, "gateway 5xx above 1% of requests", periods=(3, 2)),
        _alarm(scope, "LatencyP99", p99, 30, "gateway p99 target response time above 30 s", periods=(3, 2)),
        _alarm(scope, "Throttles", throttles, 100, "more than 100 throttled requests in 5 minutes"),
    ]
    dashboard = cw.Dashboard(scope, "Dashboard")
    dashboard.add_widgets(
        cw.GraphWidget(title="Requests", left=[requests]),
        cw.GraphWidget(title="5xx rate (%)", left=[rate]),
        cw.GraphWidget(title="p99 latency (s)", left=[p99]),
        cw.GraphWidget(title="Throttles", left=[throttles]),
        cw.GraphWidget(
            title="CPU / memory", left=[service.metric_cpu_utilization(), service.metric_memory_utilization()]
        ),
        cw.AlarmStatusWidget(alarms=alarms, title="Alarms"),
    )
    return dashboard
