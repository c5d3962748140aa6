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


def gateway_monitoring(
    scope: Construct,
    alb: elbv2.ApplicationLoadBalancer,
    tg: elbv2.ApplicationTargetGroup,
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
        cw.Alarm(
            scope,
            "FiveXxRate",
            metric=rate,
            threshold=1,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            alarm_description="gateway 5xx above 1% of requests",
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        ),
        cw.Alarm(
            scope,
            "LatencyP99",
            metric=p99,
            threshold=30,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            alarm_description="gateway p99 target response time above 30 s",
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        ),
        cw.Alarm(
            scope,
            "Throttles",
            metric=throttles,
            threshold=100,
            evaluation_periods=1,
            alarm_description="more than 100 throttled requests in 5 minutes",
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        ),
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
