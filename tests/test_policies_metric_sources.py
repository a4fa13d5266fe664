"""Rule `metric-sources`: alarms and alert conditions read metrics that the stack's resources emit."""

from __future__ import annotations

from typing import Any

import pytest

from cells import Registry, app_metrics
from policies.metric_sources import CATALOG, metric_sources, source_of
from policies.testing import Stack

NLB_SERVICE = {
    "type": "LoadBalancer",
    "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
}


def aws_cell(service: dict[str, Any] | None = None) -> Stack:
    stack = Stack("cell-alpha")
    provider = stack.aws_provider("alpha", account="210987654321")
    stack.add("aws:eks/cluster:Cluster", "alpha-cluster", {"name": "alpha"}, provider=provider)
    stack.add(
        "kubernetes:helm.sh/v3:Release",
        "alpha-addons-ingress-nginx",
        {"chart": "ingress-nginx", "values": {"controller": {"service": service or NLB_SERVICE}}},
    )
    return stack


def alarm(stack: Stack, name: str, **inputs: Any) -> None:
    stack.add("aws:cloudwatch/metricAlarm:MetricAlarm", name, {"name": name, **inputs})


def gcp_cell(*, metrics: bool = True, monitor: bool = True, prometheus: bool = True) -> Stack:
    stack = Stack("cell-beta")
    stack.add(
        "gcp:container/cluster:Cluster",
        "beta-gke",
        {"monitoringConfig": {"managedPrometheus": {"enabled": prometheus}}},
    )
    stack.add(
        "kubernetes:helm.sh/v3:Release",
        "beta-addons-ingress-nginx",
        {
            "chart": "ingress-nginx",
            "values": {"controller": {"service": {"type": "LoadBalancer"}, "metrics": {"enabled": metrics}}},
        },
    )
    if monitor:
        stack.add(
            "kubernetes:monitoring.googleapis.com/v1:PodMonitoring",
            "beta-addons-ingress-nginx-metrics",
            {"spec": {"endpoints": [{"port": "metrics", "interval": "30s"}]}},
        )
    return stack


def policy(stack: Stack, *metric_types: str) -> None:
    conditions = [
        {"displayName": t, "conditionThreshold": {"filter": f'resource.type = "x" AND metric.type = "{t}"'}}
        for t in metric_types
    ]
    stack.add("gcp:monitoring/alertPolicy:AlertPolicy", "beta-health", {"conditions": conditions})


NGINX = "prometheus.googleapis.com/nginx_ingress_controller_requests/counter"


class TestAws:
    def test_nlb_metrics_of_the_ingress_service_pass(self, registry: Registry) -> None:
        stack = aws_cell()
        alarm(stack, "a", namespace="AWS/EKS", metricName="apiserver_request_total_5XX")
        query = 'SELECT MIN(HealthyHostCount) FROM SCHEMA("AWS/NetworkELB", LoadBalancer, TargetGroup)'
        alarm(stack, "b", metricQueries=[{"id": "q1", "expression": query, "period": 60, "returnData": True}])
        assert stack.findings(registry, metric_sources) == []

    def test_application_elb_metrics_behind_an_nlb_fire(self, registry: Registry) -> None:
        stack = aws_cell()
        alarm(stack, "alpha-5xx", namespace="AWS/ApplicationELB", metricName="HTTPCode_Target_5XX_Count")
        [finding] = stack.findings(registry, metric_sources)
        assert finding.name == "alpha-5xx"
        assert "AWS/ApplicationELB" in finding.message and "Application Load Balancer" in finding.message

    def test_nlb_metrics_without_an_nlb_fire(self, registry: Registry) -> None:
        stack = aws_cell(service={"type": "LoadBalancer", "annotations": {}})  # a Classic ELB
        query = 'SELECT MIN(HealthyHostCount) FROM SCHEMA("AWS/NetworkELB", LoadBalancer, TargetGroup)'
        alarm(stack, "b", metricQueries=[{"id": "q1", "expression": query, "period": 60, "returnData": True}])
        [finding] = stack.findings(registry, metric_sources)
        assert "AWS/NetworkELB" in finding.message

    def test_a_namespace_nobody_knows_fires(self, registry: Registry) -> None:
        stack = aws_cell()
        alarm(stack, "c", namespace="Custom/Thing", metricName="x")
        [finding] = stack.findings(registry, metric_sources)
        assert "no known source" in finding.message and "Custom/Thing" in finding.message

    def test_an_alarm_reading_nothing_identifiable_fires(self, registry: Registry) -> None:
        stack = aws_cell()
        alarm(stack, "d", metricQueries=[{"id": "m", "expression": "m1 * 2"}])
        [finding] = stack.findings(registry, metric_sources)
        assert "reads no metric" in finding.message


class TestGcp:
    def test_scraped_ingress_metrics_and_gke_system_metrics_pass(self, registry: Registry) -> None:
        stack = gcp_cell()
        policy(stack, NGINX, "kubernetes.io/container/restart_count")
        assert stack.findings(registry, metric_sources) == []

    def test_an_https_load_balancer_metric_behind_a_passthrough_balancer_fires(self, registry: Registry) -> None:
        stack = gcp_cell()
        policy(stack, "loadbalancing.googleapis.com/https/request_count")
        [finding] = stack.findings(registry, metric_sources)
        assert "loadbalancing.googleapis.com/https/request_count" in finding.message

    def test_passthrough_load_balancer_metrics_pass(self, registry: Registry) -> None:
        stack = gcp_cell()
        policy(stack, "loadbalancing.googleapis.com/l3/external/ingress_packets_count")
        assert stack.findings(registry, metric_sources) == []

    @pytest.mark.parametrize(
        "missing", [{"metrics": False}, {"monitor": False}, {"prometheus": False}], ids=["metrics", "monitor", "gmp"]
    )
    def test_ingress_metrics_nobody_scrapes_fire(self, registry: Registry, missing: dict[str, bool]) -> None:
        stack = gcp_cell(**missing)
        policy(stack, NGINX)
        [finding] = stack.findings(registry, metric_sources)
        assert "PodMonitoring" in finding.message


def test_the_longest_prefix_wins() -> None:
    assert source_of(NGINX) is not None and source_of(NGINX).prefix.endswith("nginx_ingress_controller_")  # type: ignore[union-attr]
    assert source_of("prometheus.googleapis.com/up/gauge") is None
    assert len({s.prefix for s in CATALOG}) == len(CATALOG)


def _app(stack: Stack, labels: dict[str, str] | None = None) -> None:
    stack.add(
        "kubernetes:apps/v1:Deployment",
        "alpha-workloads-api",
        {"metadata": {"name": "api", "labels": {"managed-by": "honeycomb"} if labels is None else labels}},
    )


class TestApplicationCapacityMetrics:
    """The capacity figures of `cells.app_metrics`: exactly those names, from the application's workloads."""

    def test_the_documented_names_pass_where_the_application_runs(self, registry: Registry) -> None:
        stack = aws_cell()
        _app(stack)
        alarm(stack, "t", namespace=app_metrics.CLOUDWATCH_NAMESPACE, metricName=app_metrics.TENANTS)
        assert stack.findings(registry, metric_sources) == []
        gcp = gcp_cell()
        _app(gcp)
        policy(gcp, *app_metrics.GCP_METRICS)
        assert gcp.findings(registry, metric_sources) == []

    @pytest.mark.parametrize("labels", [{}, {"managed-by": "someone-else"}], ids=["no app", "not ours"])
    def test_without_the_application_they_fire(self, registry: Registry, labels: dict[str, str]) -> None:
        stack = aws_cell()
        if labels:
            _app(stack, labels)
        alarm(stack, "t", namespace=app_metrics.CLOUDWATCH_NAMESPACE, metricName=app_metrics.DAILY_REQUESTS)
        [finding] = stack.findings(registry, metric_sources)
        assert "the application's workloads" in finding.message

    @pytest.mark.parametrize(
        "metric", ["Honeycomb/TenantsExtra", "Honeycomb/Other", "custom.googleapis.com/honeycomb/other"]
    )
    def test_names_beside_the_contract_are_unknown(self, metric: str) -> None:
        assert source_of(metric) is None

    def test_the_contract_is_in_the_catalog_exactly(self) -> None:
        exact = {s.prefix for s in CATALOG if s.exact}
        assert exact == {app_metrics.CLOUDWATCH_NAMESPACE, *app_metrics.GCP_METRICS}
