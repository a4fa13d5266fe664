"""The organization's access rules applied to a cell's project.

Each registry permission maps to GCP roles (`ROLES`):

- `read-only`: `roles/viewer`.
- `cell-operator`: a custom project role (`CELL_OPERATOR_PERMISSIONS`): read the cluster,
  its workloads, logs, metrics, alerts and DNS; restart, scale and roll workloads; cordon
  nodes. No IAM, no deleting infrastructure, no secrets.
- `admin`: `roles/editor` + `roles/resourcemanager.projectIamAdmin` + `roles/container.admin`.
  Together that is everything an administrator of the cell needs (including Kubernetes RBAC
  and IAM of the project) without `roles/owner`, which GCP treats specially (ownership
  invitations, billing and project-deletion semantics) and which org policies often forbid.

Members are additive `IAMMember`s, one per (member, role), named by the caller's stable key
(group name, `owner`): grants made elsewhere on the project are left alone, and adding a group
never renames another group's bindings. Deleted custom roles are kept for 37 days, during
which the same role id cannot be created again; the role id is therefore fixed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

#: The custom role of `cell-operator`, by its id in every cell project.
CELL_OPERATOR_ROLE_ID = "honeycombCellOperator"

CELL_OPERATOR_PERMISSIONS: tuple[str, ...] = (
    "resourcemanager.projects.get",
    # the cluster and its workloads
    "container.clusters.get",
    "container.clusters.list",
    "container.clusters.getCredentials",
    # kubectl through the cluster's DNS endpoint
    "container.clusters.connect",
    "container.operations.get",
    "container.operations.list",
    "container.namespaces.get",
    "container.namespaces.list",
    "container.nodes.get",
    "container.nodes.list",
    "container.nodes.update",
    "container.pods.get",
    "container.pods.list",
    "container.pods.delete",
    "container.pods.getLogs",
    "container.deployments.get",
    "container.deployments.list",
    "container.deployments.update",
    "container.deployments.getScale",
    "container.deployments.updateScale",
    "container.replicaSets.get",
    "container.replicaSets.list",
    "container.services.get",
    "container.services.list",
    "container.events.list",
    "container.horizontalPodAutoscalers.get",
    "container.horizontalPodAutoscalers.list",
    "container.horizontalPodAutoscalers.update",
    "container.podDisruptionBudgets.get",
    "container.podDisruptionBudgets.list",
    # what the cell is doing
    "logging.logEntries.list",
    "logging.logs.list",
    "monitoring.timeSeries.list",
    "monitoring.metricDescriptors.list",
    "monitoring.alertPolicies.get",
    "monitoring.alertPolicies.list",
    "monitoring.dashboards.get",
    "monitoring.dashboards.list",
    "compute.instances.get",
    "compute.instances.list",
    "dns.managedZones.get",
    "dns.managedZones.list",
    "dns.resourceRecordSets.list",
)

#: Marks the custom role in ROLES; the component replaces it with the role's full name.
CELL_OPERATOR = "custom:cell-operator"

#: Registry permission -> GCP roles.
ROLES: dict[str, tuple[str, ...]] = {
    "read-only": ("roles/viewer",),
    "cell-operator": (CELL_OPERATOR,),
    "admin": ("roles/editor", "roles/resourcemanager.projectIamAdmin", "roles/container.admin"),
}


def roles_for(permission: str) -> tuple[str, ...]:
    """The GCP roles of a registry permission (`CELL_OPERATOR` stands for the custom role)."""
    try:
        return ROLES[permission]
    except KeyError:
        raise ValueError(f"unknown permission {permission!r}: expected one of {', '.join(ROLES)}") from None


def role_slug(role: str) -> str:
    """A role as a resource-name fragment: roles/resourcemanager.projectIamAdmin -> resourcemanager-projectiamadmin."""
    if role == CELL_OPERATOR:
        return "cell-operator"
    return re.sub(r"[^a-z0-9]+", "-", role.removeprefix("roles/").lower()).strip("-")


@dataclass(frozen=True)
class AccessGrant:
    key: str
    """A stable id for resource names: the group's name, or `owner` for a dev cell's owner."""
    member: str
    """The IAM member: `group:<email>` or `user:<email>`."""
    permission: str
    """A registry permission: read-only, cell-operator or admin."""


@dataclass(frozen=True)
class CellIamArgs:
    project: pulumi.Input[str]
    """The cell's project id."""
    grants: Sequence[AccessGrant]
    """Who gets what, from the registry's access rules for the cell (and its owner)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What every child waits for: the project's services (the APIs its resources need)."""


class CellIam(pulumi.ComponentResource):
    operator_role_name: pulumi.Output[str]
    members: dict[tuple[str, str], gcp.projects.IAMMember]

    def __init__(
        self, name: str, args: CellIamArgs, *, provider: gcp.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:gcp:Iam", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(args.depends_on))
        operator_role = gcp.projects.IAMCustomRole(
            f"{name}-cell-operator",
            project=args.project,
            role_id=CELL_OPERATOR_ROLE_ID,
            title="Honeycomb cell operator",
            description="Operate a cell: read everything about it, restart, scale and roll its workloads.",
            permissions=list(CELL_OPERATOR_PERMISSIONS),
            stage="GA",
            opts=child,
        )
        self.members = {}
        for grant in args.grants:
            for role in roles_for(grant.permission):
                if (grant.key, role) in self.members:
                    continue
                self.members[(grant.key, role)] = gcp.projects.IAMMember(
                    f"{name}-{grant.key}-{role_slug(role)}",
                    project=args.project,
                    role=operator_role.name if role == CELL_OPERATOR else role,
                    member=grant.member,
                    opts=child,
                )
        self.operator_role_name = operator_role.name
        self.register_outputs({"operator_role_name": self.operator_role_name})
