"""The program of an AWS cell stack: everything inside one cell's account.

Registry models become component arguments here and nowhere else. What the registry cannot
know (an account the management stack created, the CI role, the monitoring sinks, the DNS
delegation role) comes from the management stack's outputs through a `StackReference`;
`honeycomb:managementStack` names that stack (default `management`).

The cluster's endpoint access follows the registry's deploy runner (`stacks.endpoint_access`).
Stack config (stacks/Pulumi.cell-<name>.yaml) may also set `honeycomb:eksPublicAccessCidrs`, more
networks allowed on a non-prod cluster's public endpoint (a prod cluster's admits its CI runner only).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from cells import AwsCell, Environment, Registry
from components.aws.account import CellAccountArgs, access_role_arn, cell_provider
from components.aws.acme_dns import CertManagerIdentity, CertManagerIdentityArgs, dns01_role_arn, solver_settings
from components.aws.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs, release_for
from components.aws.cluster import DEFAULT_VERSION, CellCluster, CellClusterArgs, NodeGroupSize
from components.aws.delegation import delegation_provider
from components.aws.dns import CellDns, CellDnsArgs
from components.aws.health import CellHealth, CellHealthArgs
from components.aws.iam import CellRoles, CellRolesArgs
from components.aws.ingress_dns import IngressDns, IngressDnsArgs
from components.aws.metrics import MetricsExport, MetricsExportArgs
from components.aws.network import CellNetwork, CellNetworkArgs, zone_key
from components.aws.sso_access import IdentityCenterAccess, IdentityCenterAccessArgs
from components.cidr import MAX_ZONES
from components.k8s.deployment_agent import DeploymentAgentArgs, DeploymentAgents
from stacks import outputs as mgmt
from stacks import workloads
from stacks.config_cidrs import EKS_PUBLIC_ACCESS, CellConfigError, config_cidrs
from stacks.endpoint_access import eks_endpoint_access
from stacks.identity_center import permission_sets_of
from stacks.reference import management_output, management_stack_name

#: Config key: networks that may reach a non-prod cluster's public API endpoint.
PUBLIC_ACCESS_CIDRS_CONFIG = EKS_PUBLIC_ACCESS.key
#: Days of VPC flow logs and of control-plane logs kept, per environment.
FLOW_LOG_RETENTION = {Environment.prod: 365, Environment.preprod: 90, Environment.dev: 14}
#: The cells' EKS control plane version (the autoscaler follows it).
EKS_VERSION = DEFAULT_VERSION
CLUSTER_LOG_RETENTION = {Environment.prod: 365, Environment.preprod: 90, Environment.dev: 14}


def public_access_cidrs(cell: AwsCell, config: pulumi.Config) -> list[str]:
    """The non-prod public endpoint's allowed networks; empty (endpoint off) unless configured.

    Public ranges only: EKS sees the source address of a request to its public endpoint, which is
    never private, shared or reserved space (a runner inside the network is `kind: in-network`).
    """
    if cell.environment == Environment.prod and config.get(PUBLIC_ACCESS_CIDRS_CONFIG) is not None:
        raise CellConfigError(
            f"honeycomb:{PUBLIC_ACCESS_CIDRS_CONFIG} is set for the prod cell {cell.name!r}, but a prod cluster's "
            "public endpoint admits only the registry's deploy runner (deploy.runner.egress_cidrs): remove it from "
            f"stacks/Pulumi.{cell.stack_name}.yaml"
        )
    return config_cidrs(config, EKS_PUBLIC_ACCESS, stack=cell.stack_name)


def program(registry: Registry, cell: AwsCell) -> None:
    org = registry.organization.aws
    config = pulumi.Config()
    cidrs = public_access_cidrs(cell, config)
    # Checked before any resource: the autoscaler's minor must match the control plane's.
    autoscaler_release = release_for(EKS_VERSION)
    prod = cell.environment == Environment.prod
    management = pulumi.StackReference(management_stack_name(config))

    account_id: pulumi.Input[str] = cell.account_id or management_output(management, mgmt.ACCOUNT_IDS, cell.name)
    sink_arn = management_output(management, mgmt.OAM_SINK_ARNS, cell.region)
    ci_role_arn = management_output(management, mgmt.CI_ROLE_ARN)
    delegation_role_arn = management_output(management, mgmt.DNS_DELEGATION_ROLE_ARN)

    provider = cell_provider(
        CellAccountArgs(
            cell=cell.name,
            account_id=account_id,
            access_role_name=org.access_role_name,
            region=cell.region,
            tags=cell.tags,
        )
    )
    dns_provider = delegation_provider(
        f"{cell.name}-dns-delegation", role_arn=delegation_role_arn, cell=cell.name, tags=cell.tags
    )

    # Zones that need no opt-in: local and wavelength zones are not for a cell's subnets.
    zones = aws.get_availability_zones_output(
        state="available",
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
        opts=pulumi.InvokeOptions(provider=provider),
    ).names
    # Three zone names as three Outputs: a list of known length, so no resource is made in an apply.
    zone_names = [zones.apply(functools.partial(_zone, index=i, region=cell.region)) for i in range(MAX_ZONES)]

    network = CellNetwork(
        cell.name,
        CellNetworkArgs(
            cidr=cell.network.cidr,
            zones=zone_names,
            account_id=account_id,
            region=cell.region,
            nat_per_zone=prod,
            flow_log_retention_days=FLOW_LOG_RETENTION[cell.environment],
        ),
        provider=provider,
    )
    roles = CellRoles(
        cell.name,
        CellRolesArgs(
            account_id=account_id,
            region=cell.region,
            cluster_name=cell.name,
            management_account_id=org.management_account_id,
            ci_role_arn=ci_role_arn,
        ),
        provider=provider,
    )
    sizing = cell.sizing
    access = eks_endpoint_access(cell, registry.runner_for(cell), cidrs)
    cluster = CellCluster(
        cell.name,
        CellClusterArgs(
            cluster_name=cell.name,
            region=cell.region,
            version=EKS_VERSION,
            subnet_ids=network.private_subnet_ids,
            nodes=NodeGroupSize(
                min=sizing.min, desired=sizing.desired, max=sizing.max, instance_type=sizing.instance_type
            ),
            access_role_arn=access_role_arn(account_id, org.access_role_name),
            public_access_cidrs=access.public_cidrs,
            api_ingress_cidrs=access.ingress_cidrs,
            api_ingress_security_group_ids=access.ingress_security_groups,
            admin_role_arns={"deployer": roles.deployer_role_arn},
            viewer_role_arns={"read-only": roles.read_only_role_arn},
            log_retention_days=CLUSTER_LOG_RETENTION[cell.environment],
            kubeconfig_role_arn=roles.read_only_role_arn,
            deletion_protection=prod,
        ),
        provider=provider,
    )
    # People reach the cluster through their Identity Center roles in the cell account.
    IdentityCenterAccess(
        cell.name,
        IdentityCenterAccessArgs(
            cell=cell.name,
            cluster_name=cluster.cluster_name,
            permission_sets=permission_sets_of(registry, cell),
            namespaces=[component.name for component in registry.organization.components],
        ),
        provider=provider,
    )
    dns = CellDns(
        cell.name,
        CellDnsArgs(zone_name=registry.zone_name(cell), parent_zone_id=org.parent_zone_id, protect=prod),
        provider=provider,
        delegation_provider=dns_provider,
    )
    metrics = MetricsExport(cell.name, MetricsExportArgs(sink_arn=sink_arn), provider=provider)
    health = CellHealth(
        cell.name,
        CellHealthArgs(
            cluster_name=cell.name,
            autoscaling_group_name=cluster.autoscaling_group_name,
            nat_gateway_ids={zone_key(i): nat for i, nat in enumerate(network.nat_gateway_ids)},
        ),
        provider=provider,
    )

    pulumi.export("cell", cell.name)
    pulumi.export("accountId", account_id)
    pulumi.export("region", cell.region)
    pulumi.export("vpcId", network.vpc_id)
    pulumi.export("privateSubnetIds", network.private_subnet_ids)
    pulumi.export("publicSubnetIds", network.public_subnet_ids)
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("clusterEndpoint", cluster.endpoint)
    # The everyday kubeconfig looks (read-only role); the stack's own provider deploys as the access role.
    pulumi.export("kubeconfig", cluster.operator_kubeconfig)
    pulumi.export("zoneName", dns.zone_name)
    pulumi.export("zoneId", dns.zone_id)
    pulumi.export("nameServers", dns.name_servers)
    pulumi.export("deployerRoleArn", roles.deployer_role_arn)
    pulumi.export("readOnlyRoleArn", roles.read_only_role_arn)
    pulumi.export("oamLinkArn", metrics.link_arn)
    pulumi.export("healthAlarmName", health.health_alarm_name)

    # cert-manager answers DNS-01 for the tenants' wildcard through the cell's role in the DNS account.
    dns01_role = dns01_role_arn(org.dns_account_id, cell.name)
    cert_manager = CertManagerIdentity(
        cell.name,
        CertManagerIdentityArgs(
            cluster_name=cluster.cluster_name, cluster_name_known=cell.name, dns01_role_arn=dns01_role
        ),
        provider=provider,
    )
    k8s_provider = workloads.provider(cell, cluster.kubeconfig)
    # Every HPA may triple its pods: the node group grows up to the size's maximum to hold them. Made before
    # the workloads because it brings the Pod Identity agent, which cert-manager's first Present needs too.
    autoscaler = ClusterAutoscaler(
        cell.name,
        ClusterAutoscalerArgs(
            cluster_name=cluster.cluster_name,
            cluster_name_known=cell.name,
            region=cell.region,
            release=autoscaler_release,
            depends_on=[cluster],
        ),
        provider=provider,
        k8s_provider=k8s_provider,
    )
    application = workloads.deploy(
        registry,
        cell,
        cluster.kubeconfig,
        nodes=[cluster.nodes],
        tenants=workloads.TenantCertificates(
            route53=solver_settings(org.parent_zone_id, dns01_role),
            identity_ready=[*cert_manager.ready, autoscaler.pod_identity_agent],
            identity=cert_manager.association_id,
        ),
        k8s_provider=k8s_provider,
    )
    # Every application host (`<component>.<cell zone>`) resolves to the ingress controller's load balancer.
    ingress_dns = IngressDns(
        cell.name,
        IngressDnsArgs(zone_id=dns.zone_id, zone_name=registry.zone_name(cell), target=application.ingress_address),
        provider=provider,
    )
    pulumi.export("ingressAddress", application.ingress_address)
    pulumi.export("ingressRecord", ingress_dns.fqdn)

    # Its API is private: Pulumi Deployments reach it through agents on its own cluster (components.k8s).
    remote = registry.organization.pulumi_deployments
    if remote is not None and cell.name in {c.name for c in registry.agent_pool_cells()}:
        if remote.agent_image is None:
            raise CellConfigError(
                f"cell {cell.name} deploys through an agent pool in its own network, but "
                "cells/registry/organization.yaml pulumi_deployments.agent_image is not set: give the pinned "
                "customer-managed agent image"
            )
        DeploymentAgents(
            cell.name,
            DeploymentAgentArgs(
                image=remote.agent_image,
                token=management_output(management, mgmt.AGENT_POOL_TOKENS, cell.name),
                replicas=2,
            ),
            provider=application.provider,
        )


def _zone(names: Sequence[str] | None, index: int, region: str) -> str:
    names = sorted(names or [])
    if len(names) < MAX_ZONES:
        raise CellConfigError(
            f"region {region} offers {len(names)} availability zones ({', '.join(names) or 'none'}), "
            f"a cell needs {MAX_ZONES}"
        )
    return names[index]
