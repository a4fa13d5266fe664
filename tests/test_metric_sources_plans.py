"""Every dashboard widget and every alarm of the planned stacks reads a metric the cell really emits.

The central dashboard (management stack) shows each AWS cell's metrics by account id; the
alarms and alert policies live in the cell stacks. Each metric is matched to its emitter through
`policies.metric_sources.CATALOG` and checked against the cell's planned resources.
"""

from __future__ import annotations

import json
import re

import pytest

from cellctl.offline import PlannedResource, StackPlan, run_stack
from cells import AwsCell, Registry
from policies.base import View
from policies.metric_sources import ALERT_POLICY, METRIC_ALARM, alarm_metrics, condition_metrics, sources_missing

#: `SEARCH('{AWS/NetworkELB,LoadBalancer} :aws.AccountId="…" …')`: the namespace and the account.
_SEARCH = re.compile(r"SEARCH\('\{([^,}]+)[^}]*\}\s+:aws\.AccountId=\"(\d+)\"")


def views(plan: StackPlan) -> list[View]:
    return [
        View(r.type, r.name, r.urn, dict(r.outputs), None, r.protect, frozenset(r.depends_on)) for r in plan.resources
    ]


@pytest.fixture(scope="module")
def plans(registry: Registry) -> dict[str, StackPlan]:
    return {stack: run_stack(stack, registry) for stack in registry.stack_names}


def dashboard_metrics(plan: StackPlan) -> dict[str, set[str]]:
    """Namespaces the dashboards read, by AWS account id."""
    found: dict[str, set[str]] = {}
    for board in plan.of_type("aws:cloudwatch/dashboard:Dashboard"):
        for widget in json.loads(board.inputs["dashboardBody"])["widgets"]:
            for row in widget.get("properties", {}).get("metrics", []):
                for item in row:
                    for namespace, account in _SEARCH.findall(str(item.get("expression", ""))):
                        found.setdefault(account, set()).add(namespace)
    return found


def test_every_dashboard_widget_reads_what_its_cell_emits(plans: dict[str, StackPlan], registry: Registry) -> None:
    management = plans["management"]
    accounts = management.outputs["accountIds"]
    shown = dashboard_metrics(management)
    assert set(shown) == {accounts[c.name] for c in registry.aws_cells}
    for cell in registry.aws_cells:
        namespaces = shown[accounts[cell.name]]
        assert namespaces == {"AWS/NetworkELB", "Honeycomb/Tenants"}
        assert sources_missing(sorted(namespaces), views(plans[cell.stack_name])) == []


def test_gcp_rows_name_a_metric_their_cell_emits(plans: dict[str, StackPlan], registry: Registry) -> None:
    texts = [
        w["properties"]["markdown"]
        for board in plans["management"].of_type("aws:cloudwatch/dashboard:Dashboard")
        for w in json.loads(board.inputs["dashboardBody"])["widgets"]
        if w["type"] == "text"
    ]
    for cell in registry.gcp_cells:
        [row] = [t for t in texts if t.startswith(f"### {cell.name}\n")]
        named = re.findall(r"`([a-z.]+\.(?:googleapis\.com|io)/[^`]+)`", row)
        assert {"custom.googleapis.com/honeycomb/tenants", "custom.googleapis.com/honeycomb/daily_requests"} <= set(
            named
        )
        assert sources_missing(named, views(plans[cell.stack_name])) == []


def test_the_gcp_capacity_charts_read_what_their_cell_emits(plans: dict[str, StackPlan], registry: Registry) -> None:
    (board,) = plans["management"].of_type("gcp:monitoring/dashboard:Dashboard")
    read: dict[str, set[str]] = {}
    for tile in json.loads(board.inputs["dashboardJson"])["mosaicLayout"]["tiles"]:
        for data in tile["widget"]["xyChart"]["dataSets"]:
            query = data["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
            [(metric, cell)] = re.findall(r'metric\.type = "([^"]+)" AND metric\.labels\.cell = "([^"]+)"', query)
            read.setdefault(cell, set()).add(metric)
    assert set(read) == {c.name for c in registry.gcp_cells}
    for cell in registry.gcp_cells:
        assert sources_missing(sorted(read[cell.name]), views(plans[cell.stack_name])) == []


def test_the_old_application_load_balancer_widgets_would_be_caught(plans: dict[str, StackPlan]) -> None:
    problems = sources_missing(["AWS/ApplicationELB"], views(plans["cell-alpha"]))
    assert len(problems) == 1 and "Application Load Balancer" in problems[0]


def alarms(plan: StackPlan) -> list[PlannedResource]:
    return plan.of_type(METRIC_ALARM) + plan.of_type(ALERT_POLICY)


def test_every_alarm_and_alert_condition_reads_what_its_cell_emits(
    plans: dict[str, StackPlan], registry: Registry
) -> None:
    for cell in registry.cells:
        plan = plans[cell.stack_name]
        read: list[str] = []
        for resource in alarms(plan):
            view = views(plan)[plan.resources.index(resource)]
            metrics = alarm_metrics(view) if resource.type == METRIC_ALARM else condition_metrics(view)
            assert metrics, resource.urn
            read += metrics
        assert sources_missing(read, views(plan)) == [], cell.name
        if isinstance(cell, AwsCell):
            assert {"AWS/EKS", "AWS/EC2", "AWS/NATGateway", "AWS/NetworkELB"} <= set(read)
        else:
            assert "prometheus.googleapis.com/nginx_ingress_controller_requests/counter" in read
            assert not any(m.startswith("loadbalancing.googleapis.com/https/") for m in read)
