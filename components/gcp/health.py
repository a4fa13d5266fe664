"""A cell's health: one Cloud Monitoring alert policy `<cell>-health`, the signal the rollout's bake gate watches.

The policy fires when any of a few standard signals goes bad (combiner OR): containers
restarting in a loop, the ingress answering with 5xx, nodes out of allocatable CPU. The cell's
traffic reaches ingress-nginx through GKE's external passthrough Network Load Balancer, which
sees TCP only (its metrics, `loadbalancing.googleapis.com/l3/external/*`, carry no HTTP
status); the 5xx come from the controller's own request counter, which managed Prometheus
scrapes (`components.k8s.addons`) into `prometheus.googleapis.com/nginx_ingress_controller_requests/counter`
on the `prometheus_target` resource.
It lives in the cell's project, so its metrics are the cell's own; the same metrics reach the
central view through the management stack's metrics scope. An email notification channel is
added when the stack configures an address.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.k8s.addons import INGRESS_NAMESPACE

#: ingress-nginx's request counter (label `status`) as managed Prometheus writes it to Cloud Monitoring.
INGRESS_REQUESTS = "prometheus.googleapis.com/nginx_ingress_controller_requests/counter"

Condition = gcp.monitoring.AlertPolicyConditionArgs
Threshold = gcp.monitoring.AlertPolicyConditionConditionThresholdArgs
Aggregation = gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs


def policy_name(cell: str) -> str:
    """The alert policy's display name, which the rollout looks for."""
    return f"{cell}-health"


def _threshold(display: str, filter_: str, value: float, duration: str, aligner: str, reducer: str) -> Condition:
    return Condition(
        display_name=display,
        condition_threshold=Threshold(
            filter=filter_,
            comparison="COMPARISON_GT",
            threshold_value=value,
            duration=duration,
            aggregations=[
                Aggregation(alignment_period="300s", per_series_aligner=aligner, cross_series_reducer=reducer)
            ],
        ),
    )


def conditions(cluster_name: str) -> list[Condition]:
    """The health signals; string inputs only, so the list is built before the cluster exists."""
    in_cluster = f'resource.labels.cluster_name = "{cluster_name}"'
    return [
        _threshold(
            "containers restarting",
            f'resource.type = "k8s_container" AND {in_cluster} AND '
            'metric.type = "kubernetes.io/container/restart_count"',
            value=5,
            duration="300s",
            aligner="ALIGN_DELTA",
            reducer="REDUCE_SUM",
        ),
        _threshold(
            "ingress 5xx",
            f'resource.type = "prometheus_target" AND resource.labels.cluster = "{cluster_name}" AND '
            f'resource.labels.namespace = "{INGRESS_NAMESPACE}" AND metric.type = "{INGRESS_REQUESTS}" AND '
            'metric.labels.status = monitoring.regex.full_match("5..")',
            value=50,
            duration="300s",
            aligner="ALIGN_DELTA",
            reducer="REDUCE_SUM",
        ),
        _threshold(
            "nodes out of CPU",
            f'resource.type = "k8s_node" AND {in_cluster} AND '
            'metric.type = "kubernetes.io/node/cpu/allocatable_utilization"',
            value=0.9,
            duration="900s",
            aligner="ALIGN_MEAN",
            reducer="REDUCE_MEAN",
        ),
    ]


@dataclass(frozen=True)
class CellHealthArgs:
    project: pulumi.Input[str]
    """The cell's project id."""
    cluster_name: str
    """The cell's GKE cluster (its name is known before it exists)."""
    labels: Mapping[str, str]
    """The cell's labels."""
    notification_email: str | None = None
    """Where alerts go; no notification channel when None."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What every child waits for: the project's services (the APIs its resources need)."""


class CellHealth(pulumi.ComponentResource):
    policy_name: pulumi.Output[str]
    """The policy's resource name (projects/<p>/alertPolicies/<id>)."""
    display_name: str

    def __init__(
        self, name: str, args: CellHealthArgs, *, provider: gcp.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:gcp:Health", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(args.depends_on))
        labels = dict(args.labels)
        channels: list[pulumi.Output[str]] = []
        if args.notification_email:
            channel = gcp.monitoring.NotificationChannel(
                f"{name}-health-email",
                project=args.project,
                display_name=f"{name} health",
                type="email",
                labels={"email_address": args.notification_email},
                user_labels=labels,
                opts=child,
            )
            channels.append(channel.name)
        self.display_name = policy_name(name)
        policy = gcp.monitoring.AlertPolicy(
            f"{name}-health",
            project=args.project,
            display_name=self.display_name,
            combiner="OR",
            conditions=conditions(args.cluster_name),
            notification_channels=channels,
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="1800s"),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                subject=f"{name} cell unhealthy",
                content=f"The {name} cell's health policy fired: rollouts to later waves stop until it clears.",
                mime_type="text/markdown",
            ),
            severity="CRITICAL",
            user_labels=labels,
            opts=child,
        )
        self.policy_name = policy.name
        self.register_outputs({"policy_name": self.policy_name, "display_name": self.display_name})
