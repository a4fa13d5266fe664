"""Mocks of Pulumi's own resources: StackReference to the management stack."""

from __future__ import annotations

from typing import Any

from cellctl.mocks import HANDLERS, MockContext, fake_account_id, fake_project_number, sink_arn
from cellctl.mocks.pulumi_cloud import agent_pool_token
from cells.client import regional_location
from components.aws.acme_dns import dns01_role_arn
from components.gcp.monitoring_scope import node_service_account_email
from stacks import outputs as mgmt


def management_outputs(ctx: MockContext) -> dict[str, Any]:
    """What the management stack would export for this registry."""
    reg = ctx.registry
    org = reg.organization.aws
    regions = sorted({c.region for c in reg.aws_cells})
    primary = f"s3://{reg.organization.registry.bucket}/{reg.organization.registry.key}"
    cell_regions = {c.region for c in reg.cells}
    return {
        mgmt.ACCOUNT_IDS: {c.name: c.account_id or fake_account_id(c.name) for c in reg.aws_cells},
        mgmt.PROJECT_NUMBERS: {c.name: fake_project_number(c.project_id) for c in reg.gcp_cells},
        mgmt.NODE_SERVICE_ACCOUNTS: {c.name: node_service_account_email(c.name, c.project_id) for c in reg.gcp_cells},
        mgmt.OAM_SINK_ARNS: {r: sink_arn(r, org.monitoring_account_id) for r in regions},
        mgmt.DNS_DELEGATION_ROLE_ARN: f"arn:aws:iam::{org.dns_account_id}:role/{org.dns_delegation_role_name}",
        mgmt.ACME_DNS_ROLE_ARNS: {c.name: dns01_role_arn(org.dns_account_id, c.name) for c in reg.cells},
        mgmt.CI_ROLE_ARN: f"arn:aws:iam::{org.management_account_id}:role/honeycomb-ci",
        mgmt.ECR_REGISTRY: f"{org.management_account_id}.dkr.ecr.{org.allowed_regions[0]}.amazonaws.com",
        mgmt.REGISTRY_URL: primary,
        # The client's own rule for where a region's copy is, so the two cannot drift apart.
        mgmt.REGISTRY_REPLICA_URLS: {region: regional_location(primary, region) for region in sorted(cell_regions)},
        mgmt.AGENT_POOL_TOKENS: {c.name: agent_pool_token(c.name) for c in reg.agent_pool_cells()}
        if reg.organization.pulumi_deployments is not None
        else {},
    }


@HANDLERS.resource("pulumi:pulumi:StackReference")
def stack_reference(ctx: MockContext) -> dict[str, Any]:
    name = ctx.resource_id or ctx.name
    short = name.rsplit("/", 1)[-1]
    outputs = ctx.mocks.stack_outputs.get(short)
    if outputs is None and short == mgmt.DEFAULT_MANAGEMENT_STACK:
        outputs = management_outputs(ctx)
    return {"name": name, "outputs": outputs or {}, "secretOutputNames": []}
