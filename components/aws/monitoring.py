"""Central monitoring in the monitoring account: one CloudWatch observability sink per region
that has AWS cells, and a dashboard showing every cell side by side.

A cell's observability link must be in its sink's region, and an account has at most one sink
per region, so the sinks are keyed by region and each admits only that region's cell accounts.
The dashboard is rebuilt from the registry on every update: a section per environment and one
row per cell, labelled with the cell's name (continued on further pages past CloudWatch's
500 widgets). GCP cells' metrics live in the GCP metrics scope
(`components.gcp.monitoring_scope`); their row here links there.

Non-goals: the links themselves (each cell stack creates its own) and alarms (per cell).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from cells import app_metrics
from components.aws.iam import document

#: What cell accounts may share with the monitoring account.
SHARED_RESOURCE_TYPES = ("AWS::CloudWatch::Metric", "AWS::Logs::LogGroup", "AWS::XRay::Trace")
#: CloudWatch's limit of widgets on one dashboard.
MAX_WIDGETS = 500
#: Dashboard grid width.
GRID_WIDTH = 24
ROW_HEIGHT = 6


def sink_policy(account_ids: Sequence[str]) -> str:
    """Exactly these accounts may link to the sink, sharing metrics, logs and traces only."""
    accounts = sorted(set(account_ids))
    if not accounts:
        raise ValueError("a sink policy needs at least one account")
    return document(
        {
            "Sid": "CellAccountsLink",
            "Effect": "Allow",
            "Principal": {"AWS": accounts},
            "Action": ["oam:CreateLink", "oam:UpdateLink"],
            "Resource": "*",
            "Condition": {"ForAllValues:StringEquals": {"oam:ResourceTypes": list(SHARED_RESOURCE_TYPES)}},
        }
    )


@dataclass(frozen=True)
class DashboardCell:
    """A cell as the dashboard shows it."""

    name: str
    cloud: str
    """aws or gcp."""
    environment: str
    region: str
    account_id: str | None = None
    """The cell's AWS account (AWS cells): its metrics are selected by it."""
    project_id: str | None = None
    """The cell's GCP project (GCP cells)."""
    max_tenants: int | None = None
    """The cell's limits and the lines under them (the headroom), drawn across its capacity figures."""
    max_daily_requests: int | None = None
    effective_max_tenants: int | None = None
    effective_max_daily_requests: int | None = None


#: The key metrics of an AWS cell: (title, namespace and dimensions, metric, statistic). A cell's
#: traffic enters through ingress-nginx behind a Network Load Balancer (`stacks.workloads`), which
#: passes TCP through: `AWS/NetworkELB` has connections, targets and resets, no HTTP status codes.
AWS_KEY_METRICS = (
    ("new connections", "{AWS/NetworkELB,LoadBalancer}", "NewFlowCount", "Sum"),
    ("healthy ingress targets", "{AWS/NetworkELB,LoadBalancer,TargetGroup}", "HealthyHostCount", "Minimum"),
    ("target resets", "{AWS/NetworkELB,LoadBalancer}", "TCP_Target_Reset_Count", "Sum"),
)


#: What a GCP cell's row points to for its traffic: ingress-nginx's request counter (managed Prometheus).
GCP_INGRESS_METRIC = "prometheus.googleapis.com/nginx_ingress_controller_requests/counter"

#: The two capacity figures of a cell, published by the application (`cells.app_metrics`):
#: (title, CloudWatch metric, Cloud Monitoring metric type, DashboardCell limit, headroom line).
CAPACITY_METRICS = (
    ("tenants", app_metrics.TENANTS, app_metrics.GCP_TENANTS, "max_tenants", "effective_max_tenants"),
    (
        "daily requests",
        app_metrics.DAILY_REQUESTS,
        app_metrics.GCP_DAILY_REQUESTS,
        "max_daily_requests",
        "effective_max_daily_requests",
    ),
)


def capacity_lines(cell: DashboardCell, limit: str, line: str) -> list[dict[str, Any]]:
    """Horizontal annotations: the cell's limit and its headroom line, from the registry."""
    found = [(getattr(cell, limit), "limit", "#d62728"), (getattr(cell, line), "headroom line", "#ff7f0e")]
    return [{"label": label, "value": value, "color": colour} for value, label, colour in found if value is not None]


def widgets_for(cell: DashboardCell, y: int, *, scoping_project: str) -> list[dict[str, Any]]:
    """One dashboard row for one cell, every widget titled with the cell's name."""
    if cell.cloud == "gcp":
        url = f"https://console.cloud.google.com/monitoring?project={scoping_project}"
        capacity = ", ".join(
            f"{title} `{metric}` (limit {getattr(cell, limit):,}, headroom line {getattr(cell, line):,})"
            if getattr(cell, limit) is not None
            else f"{title} `{metric}`"
            for title, _, metric, limit, line in CAPACITY_METRICS
        )
        text = (
            f"### {cell.name}\nGCP · {cell.environment} · {cell.region} · project `{cell.project_id}`  \n"
            f"Metrics in the [central metrics scope]({url}), label `cell={cell.name}`; ingress requests by "
            f"status: `{GCP_INGRESS_METRIC}`; capacity: {capacity}."
        )
        return [{"type": "text", "x": 0, "y": y, "width": GRID_WIDTH, "height": 2, "properties": {"markdown": text}}]
    text = f"### {cell.name}\nAWS · {cell.environment} · {cell.region}  \naccount `{cell.account_id}`"
    row: list[dict[str, Any]] = [
        {"type": "text", "x": 0, "y": y, "width": 6, "height": 2 * ROW_HEIGHT, "properties": {"markdown": text}}
    ]
    width = (GRID_WIDTH - 6) // len(AWS_KEY_METRICS)
    for i, (title, schema, metric, stat) in enumerate(AWS_KEY_METRICS):
        search = f"SEARCH('{schema} :aws.AccountId=\"{cell.account_id}\" MetricName=\"{metric}\"', '{stat}', 300)"
        row.append(
            {
                "type": "metric",
                "x": 6 + i * width,
                "y": y,
                "width": width,
                "height": ROW_HEIGHT,
                "properties": {
                    "title": f"{cell.name} · {title}",
                    "region": cell.region,
                    "view": "timeSeries",
                    "stat": stat,
                    "period": 300,
                    "metrics": [[{"expression": search, "id": "e1", "label": f"{cell.name} {title}"}]],
                },
            }
        )
    # Second line: the capacity figures the application publishes, against the cell's limits.
    width = (GRID_WIDTH - 6) // len(CAPACITY_METRICS)
    for i, (title, metric, _, limit, line) in enumerate(CAPACITY_METRICS):
        schema = f"{{{app_metrics.CLOUDWATCH_NAMESPACE},{app_metrics.CELL_DIMENSION}}}"
        search = (
            f'SEARCH(\'{schema} :aws.AccountId="{cell.account_id}" MetricName="{metric}" '
            f"{app_metrics.CELL_DIMENSION}=\"{cell.name}\"', 'Maximum', 3600)"
        )
        row.append(
            {
                "type": "metric",
                "x": 6 + i * width,
                "y": y + ROW_HEIGHT,
                "width": width,
                "height": ROW_HEIGHT,
                "properties": {
                    "title": f"{cell.name} · {title} (capacity)",
                    "region": cell.region,
                    "view": "timeSeries",
                    "stat": "Maximum",
                    "period": 3600,
                    "metrics": [[{"expression": search, "id": "e1", "label": f"{cell.name} {title}"}]],
                    "annotations": {"horizontal": capacity_lines(cell, limit, line)},
                    "yAxis": {"left": {"min": 0}},
                },
            }
        )
    return row


def widget_count(cell: DashboardCell) -> int:
    return 1 if cell.cloud == "gcp" else 1 + len(AWS_KEY_METRICS) + len(CAPACITY_METRICS)


#: Sections of the dashboard, in this order; other environments follow alphabetically.
ENVIRONMENT_ORDER = ("prod", "preprod", "dev")


def _section_key(cell: DashboardCell) -> tuple[int, str, str]:
    env = cell.environment
    rank = ENVIRONMENT_ORDER.index(env) if env in ENVIRONMENT_ORDER else len(ENVIRONMENT_ORDER)
    return rank, env, cell.name


def dashboard_pages(cells: Sequence[DashboardCell], *, prefix: str) -> dict[str, list[DashboardCell]]:
    """The dashboard by name with its cells: one dashboard, a section per environment and a row
    per cell (by name), continued on `<prefix>-2`, `<prefix>-3`... past MAX_WIDGETS widgets.
    Names depend only on the registry, never on resolved values."""
    pages: dict[str, list[DashboardCell]] = {}
    page: list[DashboardCell] = []
    used, number = 0, 1
    for cell in sorted(cells, key=_section_key):
        cost = widget_count(cell) + (0 if page and page[-1].environment == cell.environment else 1)
        if page and used + cost > MAX_WIDGETS:
            pages[_page_name(prefix, number)] = page
            page, number = [], number + 1
            cost = widget_count(cell) + 1
            used = 0
        page.append(cell)
        used += cost
    pages[_page_name(prefix, number)] = page
    return pages


def _page_name(prefix: str, number: int) -> str:
    return prefix if number == 1 else f"{prefix}-{number}"


def dashboard_body(cells: Sequence[DashboardCell], *, scoping_project: str) -> str:
    """The dashboard JSON: a header per environment, then one row per cell, in the order given."""
    widgets: list[dict[str, Any]] = []
    y, section = 0, None
    for cell in cells:
        if cell.environment != section:
            section = cell.environment
            header = f"## {section}"
            widgets.append(
                {"type": "text", "x": 0, "y": y, "width": GRID_WIDTH, "height": 1, "properties": {"markdown": header}}
            )
            y += 1
        row = widgets_for(cell, y, scoping_project=scoping_project)
        widgets.extend(row)
        y += max(w["height"] for w in row)
    return json.dumps({"widgets": widgets}, sort_keys=True)


class CentralMonitoringArgs(TypedDict):
    sink_accounts: Mapping[str, Sequence[pulumi.Input[str]]]
    """Cell account ids by AWS region: one sink per region, admitting exactly these accounts."""
    cells: Sequence[DashboardCell]
    """Every cell, for the dashboard; AWS cells' account_id is filled from `account_ids`."""
    account_ids: Mapping[str, pulumi.Input[str]]
    """AWS cell accounts by cell name."""
    dashboard_prefix: str
    """The dashboard's name; continuation pages are <prefix>-2, <prefix>-3..."""
    scoping_project: str
    """The GCP metrics scope's project, linked from GCP cells' rows."""
    tags: Mapping[str, str]


class CentralMonitoring(pulumi.ComponentResource):
    """Sinks per region and the dashboard, all in the monitoring account."""

    sink_arns: dict[str, pulumi.Output[str]]
    dashboard_names: list[str]

    def __init__(
        self,
        name: str,
        args: CentralMonitoringArgs,
        *,
        providers: Mapping[str, aws.Provider],
        dashboard_provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`providers`: the monitoring account by region (every region of `sink_accounts`)."""
        super().__init__("honeycomb:aws:CentralMonitoring", name, None, opts)
        self.sink_arns = {}
        for region, accounts in sorted(args["sink_accounts"].items()):
            if region not in providers:
                raise ValueError(f"no monitoring-account provider for region {region!r}")
            child = pulumi.ResourceOptions(parent=self, provider=providers[region])
            sink = aws.oam.Sink(
                f"{name}-sink-{region}", name=f"honeycomb-{region}", tags=dict(args["tags"]), opts=child
            )
            aws.oam.SinkPolicy(
                f"{name}-sink-policy-{region}",
                sink_identifier=sink.arn,
                policy=pulumi.Output.all(*accounts).apply(sink_policy),
                opts=child,
            )
            self.sink_arns[region] = sink.arn

        account_ids = dict(args["account_ids"])
        pages = dashboard_pages(args["cells"], prefix=args["dashboard_prefix"])
        self.dashboard_names = list(pages)
        scoping = args["scoping_project"]
        for dashboard, cells in pages.items():
            aws_names = [c.name for c in cells if c.cloud == "aws"]

            def body(resolved: list[str], cells: list[DashboardCell] = cells, aws_names: list[str] = aws_names) -> str:
                ids = dict(zip(aws_names, resolved, strict=True))
                filled = [replace(c, account_id=ids[c.name]) if c.name in ids else c for c in cells]
                return dashboard_body(filled, scoping_project=scoping)

            aws.cloudwatch.Dashboard(
                f"{name}-{dashboard}",
                dashboard_name=dashboard,
                dashboard_body=pulumi.Output.all(*(account_ids[n] for n in aws_names)).apply(body),
                opts=pulumi.ResourceOptions(parent=self, provider=dashboard_provider),
            )
        self.register_outputs({"sink_arns": self.sink_arns, "dashboard_names": self.dashboard_names})
