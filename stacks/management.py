"""The management stack: everything that spans cells, driven by looping over the registry.

Adding a cell file adds exactly that cell's account (or project), its Identity Center
assignments, its place in the monitoring sinks and dashboard, and its entry in the published
registry; every resource is keyed by cell name, group name, permission or region, never by
position. The exports (names in `stacks.outputs`) are what the cell stacks read.

Providers (default providers are disabled, so each is explicit):
- `management`: the default credentials' account, the organization's management account
  (Organizations, Identity Center, the CI role, ECR, the published registry, the organization's
  CloudTrail trail and its bucket);
- `monitoring-<region>`: the monitoring account in each region with AWS cells (plus the home
  region, which holds the dashboard), through the organization's access role;
- `dns`: the DNS account (the delegation role, the routing role, each cell's DNS-01 role), through the
  same access role;
- `gcp`: the organization's GCP credentials, default project the metrics scoping project.

Stack config (all optional): `awsOrganizationId` and `awsOrganizationRootId` (else looked up),
`identityCenterRegion` (default: the first allowed AWS region), `ciPrincipalArns` (JSON list of
role ARNs that may assume the CI role besides GitHub Actions, `stacks.ci_identity`; required when
the registry names no GitHub repository),
`gcpArtifactsProject` (default: the monitoring project; also holds the registry's Cloud Storage
copies) and `gcpArtifactsLocation` (default: the
first allowed GCP region).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_pulumiservice as ps

from cells import MANAGED_BY, AwsCell, Environment, GcpCell, Registry
from cells.export import to_json
from cells.routes import router_host
from cells.tenants import cell_capacity
from components.aws import routing_role
from components.aws.account import role_arn
from components.aws.acme_dns import AcmeDnsRoles, AwsCellSolver, GcpCellSolver, gke_issuer
from components.aws.artifacts import ImageRepositories, ou_path
from components.aws.audit_trail import OrganizationTrail
from components.aws.dns_role import DnsDelegationRole
from components.aws.identity import (
    CI_MAX_SESSION_SECONDS,
    CellAccess,
    CiRole,
    GithubTrust,
    PulumiDeploymentsTrust,
    permission_set_specs,
)
from components.aws.monitoring import CentralMonitoring, DashboardCell
from components.aws.organization import CellAccount, CellOrganization
from components.aws.registry_bucket import RegistryBucket
from components.gcp.cluster import cluster_name as gke_cluster_name
from components.gcp.monitoring_scope import CapacityLimits, CentralScope, node_service_account_id
from components.gcp.projects import CellProject, CellProjects
from components.gcp.registry_copies import RegistryCopies
from components.pulumi_cloud import DeploymentsSetup, StackDeployment
from stacks import outputs
from stacks.ci_identity import CI_PRINCIPALS_CONFIG, ci_identity
from stacks.identity_center import DNS_ACCOUNT, assignments_for

CI_ROLE_NAME = "honeycomb-ci"
#: Route53 is global; its API lives in us-east-1.
DNS_REGION = "us-east-1"
SESSION_NAME = "honeycomb-management"
AUDIT_TRAIL_NAME = "honeycomb-organization"


def audit_bucket_name(registry: Registry) -> str:
    """The organization trail's bucket: globally unique through the management account's id."""
    return f"{registry.organization.name}-cloudtrail-{registry.organization.aws.management_account_id}"


def ecr_registry(registry: Registry) -> str:
    aws_org = registry.organization.aws
    return f"{aws_org.management_account_id}.dkr.ecr.{aws_org.allowed_regions[0]}.amazonaws.com"


def registry_url(registry: Registry) -> str:
    target = registry.organization.registry
    return f"s3://{target.bucket}/{target.key}"


def published_outputs(
    registry: Registry,
    account_ids: dict[str, str],
    project_numbers: dict[str, str],
    sink_arns: dict[str, str],
) -> dict[str, dict[str, Any]]:
    """The resolved values published with each cell in registry.json."""
    result: dict[str, dict[str, Any]] = {}
    for cell in registry.cells:
        doc: dict[str, Any] = {"stack_name": cell.stack_name, "zone_name": registry.zone_name(cell)}
        if isinstance(cell, AwsCell):
            doc["account_id"] = account_ids[cell.name]
            doc["oam_sink_arn"] = sink_arns.get(cell.region)
        else:
            doc["project_id"] = cell.project_id
            doc["project_number"] = project_numbers[cell.name]
        result[cell.name] = doc
    return result


def program(registry: Registry) -> None:
    org = registry.organization
    aws_org = org.aws
    config = pulumi.Config()
    home = aws_org.allowed_regions[0]
    tags = {"managed-by": MANAGED_BY}

    # --- providers ------------------------------------------------------------------------
    management = aws.Provider(
        "management",
        region=home,
        allowed_account_ids=[aws_org.management_account_id],
        default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
    )
    sso_region = config.get("identityCenterRegion") or home
    sso = (
        management
        if sso_region == home
        else aws.Provider(
            "management-sso",
            region=sso_region,
            allowed_account_ids=[aws_org.management_account_id],
            default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
        )
    )

    def member_account(name: str, account_id: str, region: str) -> aws.Provider:
        return aws.Provider(
            name,
            region=region,
            allowed_account_ids=[account_id],
            assume_roles=[
                aws.ProviderAssumeRoleArgs(
                    role_arn=role_arn(account_id, aws_org.access_role_name), session_name=SESSION_NAME
                )
            ],
            default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
        )

    cell_regions = sorted({c.region for c in registry.aws_cells})
    monitoring = {
        region: member_account(f"monitoring-{region}", aws_org.monitoring_account_id, region)
        for region in sorted({*cell_regions, home})
    }
    dns = member_account("dns", aws_org.dns_account_id, DNS_REGION)
    google = gcp.Provider("gcp", project=org.gcp.monitoring_project, default_labels=tags)

    # --- AWS Organizations ------------------------------------------------------------------
    organization_id, root_id = _organization_ids(config, management)
    environments = [str(env) for env in Environment]
    cells_org = CellOrganization(
        "org",
        {
            "root_id": root_id,
            "environments": environments,
            "allowed_regions": aws_org.allowed_regions,
            "access_role_name": aws_org.access_role_name,
            "accounts": {
                cell.name: CellAccount(
                    email=cell.account_email,
                    environment=str(cell.environment),
                    role_name=aws_org.access_role_name,
                    account_id=cell.account_id,
                    protect=cell.environment is Environment.prod,
                    tags=cell.tags,
                )
                for cell in registry.aws_cells
            },
            "tags": tags,
        },
        provider=management,
    )
    account_ids = cells_org.account_ids

    # --- GCP projects -----------------------------------------------------------------------
    projects = CellProjects(
        "gcp",
        {
            "organization": org.name,
            "organization_id": org.gcp.organization_id,
            "billing_account": org.gcp.billing_account,
            "environments": environments,
            "projects": {
                cell.name: CellProject(
                    project_id=cell.project_id,
                    environment=str(cell.environment),
                    prod=cell.environment is Environment.prod,
                    folder=cell.folder,
                    labels=cell.tags,
                )
                for cell in registry.gcp_cells
            },
        },
        provider=google,
    )

    # --- identity -----------------------------------------------------------------------------
    cell_org_paths = [
        pulumi.Output.all(organization_id, root_id, ou).apply(lambda ids: ou_path(*ids))
        for ou in cells_org.ou_ids.values()
    ]
    ci_trust = ci_identity(registry, config.get(CI_PRINCIPALS_CONFIG))
    github = ci_trust.github
    remote = org.pulumi_deployments
    ci = CiRole(
        "ci",
        {
            "role_name": CI_ROLE_NAME,
            "github": GithubTrust(github.repository, tuple(github.subjects)) if github else None,
            "pulumi_deployments": PulumiDeploymentsTrust(remote.organization, pulumi.get_project()) if remote else None,
            "trusted_principal_arns": ci_trust.principal_arns,
            "access_role_name": aws_org.access_role_name,
            "cell_org_paths": cell_org_paths,
            "dns_delegation_role_arn": role_arn(aws_org.dns_account_id, aws_org.dns_delegation_role_name),
            "routing_role_arn": routing_role.role_arn(aws_org.dns_account_id),
            "tags": tags,
        },
        provider=management,
    )
    CellAccess(
        "sso",
        {
            "instance_arn": aws_org.sso_instance_arn,
            "identity_store_id": aws_org.identity_store_id,
            "permission_sets": permission_set_specs(routing_role.role_arn(aws_org.dns_account_id)),
            # The DNS account too: the movers' cell-operator role there assumes the routing role.
            "account_ids": {**account_ids, DNS_ACCOUNT: aws_org.dns_account_id},
            "assignments": assignments_for(registry),
            "tags": tags,
        },
        provider=sso,
    )
    dns_role = DnsDelegationRole(
        "dns",
        {
            "role_name": aws_org.dns_delegation_role_name,
            "parent_zone_id": aws_org.parent_zone_id,
            "domain": registry.organization.domain,
            "ci_role_arn": ci.arn,
            "tags": tags,
        },
        provider=dns,
    )
    # Each cell's cert-manager writes the tenants' wildcard challenge in the parent zone through its own role.
    acme = AcmeDnsRoles(
        "acme",
        {
            "parent_zone_id": aws_org.parent_zone_id,
            "domain": org.domain,
            "cells": {cell.name: _acme_solver(cell, account_ids) for cell in registry.cells},
            "tags": {cell.name: cell.tags for cell in registry.cells},
        },
        provider=dns,
    )
    # The routing stack's identity: tenant CNAMEs and the router, which the delegation role may not write.
    routing_role.RoutingRole(
        "routing",
        {
            "dns_account_id": aws_org.dns_account_id,
            "parent_zone_id": aws_org.parent_zone_id,
            "domain": org.domain,
            "router_host": router_host(registry),
            "ci_role_arn": ci.arn,
            "tags": tags,
        },
        provider=dns,
    )

    # --- central monitoring ---------------------------------------------------------------------
    central = CentralMonitoring(
        "monitoring",
        {
            "sink_accounts": {
                region: [account_ids[c.name] for c in registry.aws_cells if c.region == region]
                for region in cell_regions
            },
            "cells": [_dashboard_cell(cell, org.capacity.headroom_percent) for cell in registry.cells],
            "account_ids": account_ids,
            "dashboard_prefix": "honeycomb-cells",
            "scoping_project": org.gcp.monitoring_project,
            "tags": tags,
        },
        providers=monitoring,
        dashboard_provider=monitoring[home],
    )
    shared_project = config.get("gcpArtifactsProject") or org.gcp.monitoring_project
    scope = CentralScope(
        "gcp-scope",
        {
            "scoping_project": org.gcp.monitoring_project,
            "artifacts_project": shared_project,
            "artifacts_location": config.get("gcpArtifactsLocation") or org.gcp.allowed_regions[0],
            "repository_id": org.name,
            "cells": {
                cell.name: {
                    "project_id": projects.project_ids[cell.name],
                    "node_account_id": node_service_account_id(cell.name),
                    "protect": cell.environment is Environment.prod,
                    "capacity": _capacity_limits(cell, org.capacity.headroom_percent),
                }
                for cell in registry.gcp_cells
            },
            "labels": tags,
        },
        provider=google,
    )

    # --- shared resources ---------------------------------------------------------------------
    ImageRepositories(
        "images",
        {
            "organization": org.name,
            "components": [component.name for component in org.components],
            "org_paths": cell_org_paths,
            "tags": tags,
        },
        provider=management,
    )
    content = pulumi.Output.all(
        pulumi.Output.from_input(account_ids),
        pulumi.Output.from_input(projects.project_numbers),
        pulumi.Output.from_input(central.sink_arns),
    ).apply(lambda values: to_json(registry, published_outputs(registry, *values)))
    # A copy in every region with AWS cells (the home region too), in the management account.
    registry_regions = {
        region: management
        if region == home
        else aws.Provider(
            f"management-{region}",
            region=region,
            allowed_account_ids=[aws_org.management_account_id],
            default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
        )
        for region in cell_regions
    }
    published = RegistryBucket(
        "registry",
        {
            "bucket": org.registry.bucket,
            "key": org.registry.key,
            "content": content,
            "organization_id": organization_id,
            "replica_regions": sorted(registry_regions),
            "tags": tags,
        },
        provider=management,
        replica_providers=registry_regions,
    )
    # A copy in every GCP region with cells, in the shared GCP project, read by those cells' nodes.
    gcs_copies = RegistryCopies(
        "registry-gcs",
        {
            "project": shared_project,
            "bucket": org.registry.bucket,
            "key": org.registry.key,
            "content": content,
            "readers": {
                region: {c.name: scope.node_service_accounts[c.name] for c in registry.gcp_cells if c.region == region}
                for region in sorted({c.region for c in registry.gcp_cells})
            },
            "labels": tags,
        },
        provider=google,
    )

    # --- the audit trail the SCPs protect ----------------------------------------------------------
    OrganizationTrail(
        "audit",
        {
            "trail_name": AUDIT_TRAIL_NAME,
            "bucket": audit_bucket_name(registry),
            "region": home,
            "management_account_id": aws_org.management_account_id,
            "organization_id": organization_id,
            "tags": tags,
        },
        provider=management,
    )

    # --- Pulumi Deployments (cellctl rollout --runner deployments) ----------------------------------
    agent_pool_tokens: dict[str, pulumi.Output[str]] = {}
    if remote is not None:
        pooled = {c.name for c in registry.agent_pool_cells()}
        setup = DeploymentsSetup(
            "deployments",
            settings=remote,
            project=pulumi.get_project(),
            stacks=[StackDeployment(c.stack_name, c.name, str(c.cloud), c.name in pooled) for c in registry.cells],
            ci_role_arn=ci.arn,
            ci_max_session_seconds=CI_MAX_SESSION_SECONDS,
            github_subjects=GithubTrust(github.repository, tuple(github.subjects)).sub_claims() if github else (),
            provider=ps.Provider("pulumi-cloud"),
        )
        agent_pool_tokens = setup.agent_pool_tokens

    # --- exports (the contract in stacks.outputs) -------------------------------------------------
    pulumi.export(outputs.ACCOUNT_IDS, account_ids)
    pulumi.export(outputs.PROJECT_NUMBERS, projects.project_numbers)
    pulumi.export(outputs.NODE_SERVICE_ACCOUNTS, scope.node_service_accounts)
    pulumi.export(outputs.OAM_SINK_ARNS, central.sink_arns)
    pulumi.export(outputs.DNS_DELEGATION_ROLE_ARN, dns_role.arn)
    pulumi.export(outputs.ACME_DNS_ROLE_ARNS, acme.arns)
    pulumi.export(outputs.CI_ROLE_ARN, ci.arn)
    pulumi.export(outputs.ECR_REGISTRY, ecr_registry(registry))
    pulumi.export(outputs.REGISTRY_URL, published.url)
    pulumi.export(outputs.REGISTRY_REPLICA_URLS, {**published.replica_urls, **gcs_copies.urls})
    pulumi.export(outputs.AGENT_POOL_TOKENS, pulumi.Output.secret(agent_pool_tokens))


def _acme_solver(
    cell: AwsCell | GcpCell, account_ids: Mapping[str, pulumi.Input[str]]
) -> AwsCellSolver | GcpCellSolver:
    """Who answers a cell's DNS-01: its EKS cluster's cert-manager, or its GKE cluster's token issuer."""
    if isinstance(cell, AwsCell):
        return AwsCellSolver(account_id=account_ids[cell.name], cluster_name=cell.name)
    return GcpCellSolver(issuer=gke_issuer(cell.project_id, cell.region, gke_cluster_name(cell.name)))


def _capacity_limits(cell: AwsCell | GcpCell, headroom_percent: int) -> CapacityLimits:
    limits = cell_capacity(cell, headroom_percent)
    return {
        "max_tenants": limits.max_tenants,
        "effective_max_tenants": limits.effective_max_tenants,
        "max_daily_requests": limits.max_daily_requests,
        "effective_max_daily_requests": limits.effective_max_daily_requests,
    }


def _dashboard_cell(cell: AwsCell | GcpCell, headroom_percent: int) -> DashboardCell:
    return DashboardCell(
        name=cell.name,
        cloud=cell.cloud,
        environment=str(cell.environment),
        region=cell.region,
        project_id=cell.project_id if isinstance(cell, GcpCell) else None,
        **_capacity_limits(cell, headroom_percent),
    )


def _organization_ids(config: pulumi.Config, provider: aws.Provider) -> tuple[pulumi.Input[str], pulumi.Input[str]]:
    """The organization's id and root id: from stack config when set, else looked up."""
    organization_id = config.get("awsOrganizationId")
    root_id = config.get("awsOrganizationRootId")
    if organization_id and root_id:
        return organization_id, root_id
    found = aws.organizations.get_organization_output(opts=pulumi.InvokeOutputOptions(provider=provider))
    return (
        organization_id or found.id,
        root_id or found.roots.apply(lambda roots: roots[0].id),
    )
