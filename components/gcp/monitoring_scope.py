"""GCP cells in the central view: every cell project in the organization's metrics scope, and the
cells' nodes allowed to pull the application's images from Artifact Registry.

Metrics: a `MonitoredProject` per GCP cell adds its project to the metrics scope of the scoping
project, so one Cloud Monitoring view shows every GCP cell (label `cell` tells them apart). The
dashboard `honeycomb-cells-capacity` there (the GCP counterpart of the CloudWatch dashboard's
capacity widgets) charts each GCP cell's two capacity metrics (`cells.app_metrics`) against its
limit and headroom line, two tiles per cell, continued on `-2`, `-3`... past `MAX_TILES`.

Images: one Docker repository (`<organization>`) in the artifacts project; each GCP cell's node
service account gets `roles/artifactregistry.reader` on it. GCP refuses an IAM grant to a service
account that does not exist ("Service account ... does not exist"), so the account is created
here, in the cell's project (with the IAM API enabled there first), and the grant names the
created account's `member`: the grant waits for it, and the cell stack, which runs later, uses
the account it finds in this stack's `nodeServiceAccounts` output. Its email stays deterministic
(`node_service_account_email`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp

from cells import app_metrics

READER_ROLE = "roles/artifactregistry.reader"
#: GCP service account ids are 6 to 30 characters.
MAX_ACCOUNT_ID = 30
NODES_SUFFIX = "-nodes"


def node_service_account_id(cell: str) -> str:
    """The account id of a GCP cell's node service account: `<cell>-nodes`, or for cell names too
    long for that, the name cut short plus a hash of the full name (still unique and stable)."""
    plain = f"{cell}{NODES_SUFFIX}"
    if len(plain) <= MAX_ACCOUNT_ID:
        return plain
    tag = hashlib.sha256(cell.encode()).hexdigest()[:6]
    head = cell[: MAX_ACCOUNT_ID - len(NODES_SUFFIX) - len(tag) - 1].rstrip("-")
    return f"{head}-{tag}{NODES_SUFFIX}"


def node_service_account_email(cell: str, project_id: str) -> str:
    """`<cell>-nodes@<project>.iam.gserviceaccount.com`: the identity of a GCP cell's nodes."""
    return f"{node_service_account_id(cell)}@{project_id}.iam.gserviceaccount.com"


def metrics_scope(scoping_project: str) -> str:
    return f"locations/global/metricsScopes/{scoping_project}"


#: Tiles on one capacity dashboard: a conservative page (Cloud Monitoring caps widgets per dashboard).
MAX_TILES = 40
#: The mosaic layout's grid width; each cell's row is two tiles side by side.
COLUMNS = 48
TILE_HEIGHT = 16
CAPACITY_DASHBOARD = "honeycomb-cells-capacity"


class CapacityLimits(TypedDict):
    max_tenants: int
    effective_max_tenants: int
    max_daily_requests: int
    effective_max_daily_requests: int


def capacity_tile(cell: str, y: int, x: int, title: str, metric: str, limit: int, line: int) -> dict[str, Any]:
    """One chart: the cell's metric (maximum per hour) with its limit and headroom line as thresholds."""
    selector = f'metric.type = "{metric}" AND metric.labels.{app_metrics.CELL_DIMENSION} = "{cell}"'
    return {
        "xPos": x,
        "yPos": y,
        "width": COLUMNS // 2,
        "height": TILE_HEIGHT,
        "widget": {
            "title": f"{cell} · {title} (capacity)",
            "xyChart": {
                "dataSets": [
                    {
                        "plotType": "LINE",
                        "timeSeriesQuery": {
                            "timeSeriesFilter": {
                                "filter": selector,
                                "aggregation": {"alignmentPeriod": "3600s", "perSeriesAligner": "ALIGN_MAX"},
                            }
                        },
                    }
                ],
                "thresholds": [
                    {"label": "limit", "value": limit, "color": "RED", "direction": "ABOVE"},
                    {"label": "headroom line", "value": line, "color": "YELLOW", "direction": "ABOVE"},
                ],
            },
        },
    }


def capacity_dashboards(cells: Mapping[str, CapacityLimits]) -> dict[str, str]:
    """Dashboard JSON by display name: two tiles per cell (by name), `MAX_TILES` a page."""
    per_page = MAX_TILES // 2
    names = sorted(cells)
    pages: dict[str, str] = {}
    for number, start in enumerate(range(0, len(names), per_page), start=1):
        tiles = []
        for row, cell in enumerate(names[start : start + per_page]):
            limits = cells[cell]
            y = row * TILE_HEIGHT
            tiles.append(
                capacity_tile(
                    cell,
                    y,
                    0,
                    "tenants",
                    app_metrics.GCP_TENANTS,
                    limits["max_tenants"],
                    limits["effective_max_tenants"],
                )
            )
            tiles.append(
                capacity_tile(
                    cell,
                    y,
                    COLUMNS // 2,
                    "daily requests",
                    app_metrics.GCP_DAILY_REQUESTS,
                    limits["max_daily_requests"],
                    limits["effective_max_daily_requests"],
                )
            )
        title = CAPACITY_DASHBOARD if number == 1 else f"{CAPACITY_DASHBOARD}-{number}"
        pages[title] = json.dumps(
            {"displayName": title, "mosaicLayout": {"columns": COLUMNS, "tiles": tiles}}, sort_keys=True
        )
    return pages


class ScopedCell(TypedDict):
    project_id: pulumi.Input[str]
    """The cell's project (an output of the project, so everything here waits for it)."""
    node_account_id: str
    """Account id of the cell's node service account (`node_service_account_id`)."""
    protect: NotRequired[bool]
    """Protect the node account (prod cells: deleting it stops the cell's nodes)."""
    capacity: NotRequired[CapacityLimits]
    """The cell's limits and headroom lines, charted on the capacity dashboard."""


class CentralScopeArgs(TypedDict):
    scoping_project: str
    """The project whose metrics scope shows every cell."""
    artifacts_project: str
    """The project holding the image repository."""
    artifacts_location: str
    """Artifact Registry location (a region or a multi-region such as `europe`)."""
    repository_id: str
    """The Docker repository's id."""
    cells: Mapping[str, ScopedCell]
    """GCP cells by name."""
    labels: Mapping[str, str]


#: What creating a service account in a project needs enabled there.
IAM_API = "iam.googleapis.com"


class CentralScope(pulumi.ComponentResource):
    repository_url: pulumi.Output[str]
    node_service_accounts: dict[str, pulumi.Output[str]]
    """Email of each GCP cell's node service account, by cell name."""

    def __init__(
        self,
        name: str,
        args: CentralScopeArgs,
        *,
        provider: gcp.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:gcp:CentralScope", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        repository = gcp.artifactregistry.Repository(
            f"{name}-images",
            project=args["artifacts_project"],
            location=args["artifacts_location"],
            repository_id=args["repository_id"],
            format="DOCKER",
            description="The application's images, pulled by every GCP cell",
            docker_config={"immutable_tags": True},
            labels=dict(args["labels"]),
            opts=child,
        )
        self.node_service_accounts = {}
        for cell, spec in sorted(args["cells"].items()):
            iam_api = gcp.projects.Service(
                f"{cell}-iam-api",
                project=spec["project_id"],
                service=IAM_API,
                # The cell stack enables the same API: neither may turn it off under the other.
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child,
            )
            nodes = gcp.serviceaccount.Account(
                f"{cell}-nodes-sa",
                account_id=spec["node_account_id"],
                project=spec["project_id"],
                display_name=f"{cell} GKE nodes",
                description="Least-privilege identity of the cell's GKE nodes (logs, metrics, node metadata, images).",
                opts=pulumi.ResourceOptions(
                    parent=self, provider=provider, depends_on=[iam_api], protect=spec.get("protect", False)
                ),
            )
            self.node_service_accounts[cell] = nodes.email
            gcp.monitoring.MonitoredProject(
                f"{cell}-monitored-project",
                metrics_scope=metrics_scope(args["scoping_project"]),
                name=spec["project_id"],
                opts=child,
            )
            gcp.artifactregistry.RepositoryIamMember(
                f"{cell}-image-reader",
                project=args["artifacts_project"],
                location=args["artifacts_location"],
                repository=repository.repository_id,
                role=READER_ROLE,
                member=nodes.member,
                opts=child,
            )
        limits = {cell: spec["capacity"] for cell, spec in args["cells"].items() if "capacity" in spec}
        for title, body in capacity_dashboards(limits).items():
            gcp.monitoring.Dashboard(
                f"{name}-{title}", project=args["scoping_project"], dashboard_json=body, opts=child
            )
        self.repository_url = pulumi.Output.concat(
            args["artifacts_location"], "-docker.pkg.dev/", args["artifacts_project"], "/", args["repository_id"]
        )
        self.register_outputs(
            {"repository_url": self.repository_url, "node_service_accounts": self.node_service_accounts}
        )
