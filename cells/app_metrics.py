"""The capacity metrics the application publishes: the contract between it and the dashboards.

Whatever counts tenants in the application (the component that owns tenant records) publishes,
at least hourly, per cell:

- AWS cells: CloudWatch namespace `Honeycomb/Tenants`, dimension `cell` (the cell's name),
  metrics `TenantCount` (tenants living in the cell) and `DailyRequests` (requests the cell
  served in the last 24 hours), in the cell's own account and region; the cell's observability
  link shares them with the monitoring account.
- GCP cells: custom metrics `custom.googleapis.com/honeycomb/tenants` and
  `custom.googleapis.com/honeycomb/daily_requests` (gauges, INT64), label `cell`, in the cell's
  project, which the metrics scope shows centrally.

The central dashboard draws both against the cell's limits and its headroom line from the
registry; `policies.metric_sources` knows these names as the application's, emitted by a stack
that runs the application's workloads, and refuses any other name in these namespaces.
"""

from __future__ import annotations

CLOUDWATCH_NAMESPACE = "Honeycomb/Tenants"
CELL_DIMENSION = "cell"
TENANTS = "TenantCount"
DAILY_REQUESTS = "DailyRequests"
#: The CloudWatch metric names the contract defines; nothing else is published in the namespace.
CLOUDWATCH_METRICS = (TENANTS, DAILY_REQUESTS)

GCP_PREFIX = "custom.googleapis.com/honeycomb/"
GCP_TENANTS = f"{GCP_PREFIX}tenants"
GCP_DAILY_REQUESTS = f"{GCP_PREFIX}daily_requests"
GCP_METRICS = (GCP_TENANTS, GCP_DAILY_REQUESTS)
