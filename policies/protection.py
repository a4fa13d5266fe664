"""Rule 9 (advisory): what a prod cell cannot do without is protected against deletion.

The accounts and projects of prod cells (management stack) and their public DNS zones (cell
stacks) carry `protect=True`, so a mistaken `pulumi destroy` or a rename stops at a prompt.
"""

from __future__ import annotations

from collections.abc import Callable

from cells import AwsCell, Environment, GcpCell
from policies.base import ADVISORY, Context, View, resource_rule

ACCOUNT = "aws:organizations/account:Account"
PROJECT = "gcp:organizations/project:Project"
AWS_ZONE = "aws:route53/zone:Zone"
GCP_ZONE = "gcp:dns/managedZone:ManagedZone"


def owning_cell(resource: View, ctx: Context) -> AwsCell | GcpCell | None:
    """The cell an account, project or zone belongs to, from the registry."""
    props = resource.props
    cells = ctx.registry.cells
    if resource.type == ACCOUNT:
        return next(
            (
                c
                for c in ctx.registry.aws_cells
                if props.get("email") == c.account_email or props.get("name") in (c.stack_name, c.name)
            ),
            None,
        )
    if resource.type == PROJECT:
        return next((c for c in ctx.registry.gcp_cells if props.get("projectId") == c.project_id), None)
    zone = props.get("name") if resource.type == AWS_ZONE else props.get("dnsName")
    if not isinstance(zone, str):
        return None
    return next((c for c in cells if ctx.registry.zone_name(c) == zone.rstrip(".")), None)


@resource_rule(
    "prod-protection",
    "Accounts, projects and DNS zones of prod cells are protected (protect=True).",
    ADVISORY,
    types=[ACCOUNT, PROJECT, AWS_ZONE, GCP_ZONE],
)
def prod_protection(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    cell = owning_cell(resource, ctx)
    if cell is None or cell.environment != Environment.prod or resource.protect:
        return
    what = {ACCOUNT: "account", PROJECT: "project"}.get(resource.type, "DNS zone")
    report(
        f"{resource.label} is prod cell {cell.name}'s {what} but is not protected: "
        "create it with pulumi.ResourceOptions(protect=True)"
    )
