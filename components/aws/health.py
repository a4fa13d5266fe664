"""A cell's health: a few standard CloudWatch alarms rolled up into one composite alarm.

The composite alarm `<cell>-health` is what the rollout's bake gate watches: it is in ALARM
when any of the standard alarms is. Every alarm uses metrics AWS publishes without agents
(EKS control plane, EC2 status checks, NAT gateways, and the Network Load Balancer in front of
ingress-nginx), so a new cell is watched from its first minute. Missing data is not a failure:
an idle cell is a healthy one. The load balancer is made by Kubernetes, under a name Pulumi
never knows, so its alarm is a Metrics Insights query over the cell account's NLB target groups
(the ingress's is the only one) rather than a metric with fixed dimensions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AlarmSpec:
    """One standard alarm: `<cell>-<key>` fires when `statistic(metric) <comparison> threshold`."""

    key: str
    description: str
    namespace: str
    metric: str
    statistic: str
    threshold: float
    dimensions: Mapping[str, pulumi.Input[str]]
    comparison: str = "GreaterThanThreshold"
    period: int = 60
    evaluation_periods: int = 5
    datapoints_to_alarm: int = 3
    query: str | None = None
    """A Metrics Insights query (one series) to alarm on instead of `metric` with `dimensions`."""


#: The ingress's load balancer: fewest healthy targets over its target groups (80 and 443).
INGRESS_TARGETS_QUERY = 'SELECT MIN(HealthyHostCount) FROM SCHEMA("AWS/NetworkELB", LoadBalancer, TargetGroup)'


def composite_rule(alarm_names: Sequence[str]) -> str:
    """The composite alarm's rule: ALARM when any of the alarms is."""
    if not alarm_names:
        raise ValueError("a composite alarm needs at least one alarm")
    return " OR ".join(f'ALARM("{name}")' for name in alarm_names)


def standard_alarms(
    cluster_name: str, autoscaling_group_name: pulumi.Input[str], nat_gateway_ids: Mapping[str, pulumi.Input[str]]
) -> list[AlarmSpec]:
    """The standard alarms of an AWS cell (NAT alarms keyed by the zone key, not list position)."""
    cluster = {"ClusterName": cluster_name}
    specs = [
        AlarmSpec(
            "apiserver-5xx",
            "The Kubernetes API server answers with server errors.",
            "AWS/EKS",
            "apiserver_request_total_5XX",
            "Sum",
            threshold=10,
            dimensions=cluster,
        ),
        AlarmSpec(
            "unschedulable-pods",
            "Pods cannot be scheduled: the node group is full or broken.",
            "AWS/EKS",
            "scheduler_pending_pods_UNSCHEDULABLE",
            "Maximum",
            threshold=0,
            dimensions=cluster,
            evaluation_periods=10,
            datapoints_to_alarm=10,
        ),
        AlarmSpec(
            "node-status-checks",
            "A node of the cell fails its EC2 status checks.",
            "AWS/EC2",
            "StatusCheckFailed",
            "Maximum",
            threshold=0,
            dimensions={"AutoScalingGroupName": autoscaling_group_name},
        ),
    ]
    specs.append(
        AlarmSpec(
            "ingress-unreachable",
            "The ingress load balancer has no healthy target: the cell's traffic goes nowhere.",
            "AWS/NetworkELB",
            "HealthyHostCount",
            "Minimum",
            threshold=1,
            dimensions={},
            comparison="LessThanThreshold",
            query=INGRESS_TARGETS_QUERY,
        )
    )
    for zone, nat_id in nat_gateway_ids.items():
        specs.append(
            AlarmSpec(
                f"nat-{zone}-port-allocation",
                f"The NAT gateway of zone {zone} cannot allocate source ports: outbound connections fail.",
                "AWS/NATGateway",
                "ErrorPortAllocation",
                "Sum",
                threshold=0,
                dimensions={"NatGatewayId": nat_id},
            )
        )
    return specs


def _metric(spec: AlarmSpec) -> dict[str, Any]:
    """What the alarm watches: a metric, or a query. PutMetricAlarm refuses namespace, metric, dimensions,
    period and statistic beside `Metrics`: a query's period lives in the query itself."""
    if spec.query is None:
        return {
            "namespace": spec.namespace,
            "metric_name": spec.metric,
            "statistic": spec.statistic,
            "dimensions": dict(spec.dimensions),
            "period": spec.period,
        }
    return {
        "metric_queries": [
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="q1", expression=spec.query, period=spec.period, return_data=True, label=spec.key
            )
        ]
    }


@dataclass(frozen=True)
class CellHealthArgs:
    cluster_name: str
    """The cell's EKS cluster."""
    autoscaling_group_name: pulumi.Input[str]
    """The Auto Scaling group of the cell's node group."""
    nat_gateway_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """NAT gateways by zone key (a, b, c)."""
    alarm_actions: Sequence[pulumi.Input[str]] = ()
    """Where state changes of the composite alarm are sent (e.g. an SNS topic); none by default."""


class CellHealth(pulumi.ComponentResource):
    health_alarm_name: pulumi.Output[str]
    health_alarm_arn: pulumi.Output[str]
    alarm_names: list[str]

    def __init__(
        self, name: str, args: CellHealthArgs, *, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:aws:CellHealth", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        specs = standard_alarms(args.cluster_name, args.autoscaling_group_name, args.nat_gateway_ids)
        self.alarm_names = [f"{name}-{spec.key}" for spec in specs]
        alarms = []
        for spec, alarm_name in zip(specs, self.alarm_names, strict=True):
            alarms.append(
                aws.cloudwatch.MetricAlarm(
                    alarm_name,
                    name=alarm_name,
                    alarm_description=spec.description,
                    comparison_operator=spec.comparison,
                    threshold=spec.threshold,
                    evaluation_periods=spec.evaluation_periods,
                    datapoints_to_alarm=spec.datapoints_to_alarm,
                    treat_missing_data="notBreaching",
                    opts=child,
                    **_metric(spec),
                )
            )
        composite = aws.cloudwatch.CompositeAlarm(
            f"{name}-health",
            alarm_name=f"{name}-health",
            alarm_description=f"The {name} cell is unhealthy: one of its standard alarms fires. Rollouts wait on it.",
            alarm_rule=composite_rule(self.alarm_names),
            alarm_actions=list(args.alarm_actions),
            ok_actions=list(args.alarm_actions),
            # The rule names alarms by name: they must exist before the composite does.
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=alarms),
        )
        self.health_alarm_name = composite.alarm_name
        self.health_alarm_arn = composite.arn
        self.register_outputs({"health_alarm_name": self.health_alarm_name, "health_alarm_arn": self.health_alarm_arn})
