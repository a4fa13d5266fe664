"""The program of a GCP cell stack: everything inside one cell's project.

The registry says what the cell is; this program turns it into component arguments. The
project itself, its number, the nodes' service account and the DNS delegation role come from the
management stack (read through a `StackReference`): creating a project and working inside it in
the same update fails, and the node account must exist before management grants it image pulls.

Stack config (`stacks/Pulumi.cell-<name>.yaml`), all optional:
- `managementStack`: the management stack to read (default `management`);
- `masterAuthorizedNetworks`: CIDRs besides the node subnet that may reach the GKE control plane's
  private IP endpoint (a VPN, for example; people and CI use the IAM-authorized DNS endpoint);
- `healthNotificationEmail`: where the health alert policy sends notifications.
"""

from __future__ import annotations

import re

import pulumi

from cells import Environment, GcpCell, Registry
from components.aws.acme_dns import TOKEN_SERVICE_ACCOUNT, dns01_role_arn, solver_settings
from components.aws.delegation import delegation_provider
from components.cidr import gke_ranges, max_pods_per_node
from components.gcp.cluster import CellCluster, CellClusterArgs, cluster_name
from components.gcp.dns import CellDns, CellDnsArgs
from components.gcp.health import CellHealth, CellHealthArgs
from components.gcp.iam import AccessGrant, CellIam, CellIamArgs
from components.gcp.ingress_dns import IngressDns, IngressDnsArgs
from components.gcp.network import CellNetwork, CellNetworkArgs
from components.gcp.provider import CellProjectArgs, cell_provider
from components.gcp.services import CELL_SERVICES, ProjectServices, ProjectServicesArgs
from stacks import outputs as mgmt
from stacks import workloads
from stacks.config_cidrs import GKE_AUTHORIZED_NETWORKS, config_cidrs
from stacks.reference import management_output, management_stack_name

#: Release channel per environment: prod takes versions last.
RELEASE_CHANNELS = {Environment.prod: "STABLE", Environment.preprod: "REGULAR", Environment.dev: "REGULAR"}
#: Nodes a surge upgrade adds on top of the autoscaling maximum.
SURGE_NODES = 1


def access_grants(registry: Registry, cell: GcpCell) -> list[AccessGrant]:
    """The registry's access rules for the cell as IAM members, plus admin for a dev cell's owner."""
    org = registry.organization
    grants = [
        AccessGrant(
            key=_key(rule.group), member=f"group:{org.group(rule.group).email}", permission=str(rule.permission)
        )
        for rule in registry.access_for(cell)
    ]
    if cell.environment == Environment.dev and cell.owner:
        grants.append(AccessGrant(key="owner", member=f"user:{cell.owner}", permission="admin"))
    return grants


def _key(group: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", group.lower()).strip("-")


def program(registry: Registry, cell: GcpCell) -> None:
    config = pulumi.Config()
    org = registry.organization
    name = cell.name
    # Internal ranges are the point (the endpoint is the private one); checked before any resource.
    authorized_networks = config_cidrs(config, GKE_AUTHORIZED_NETWORKS, stack=cell.stack_name)
    labels = cell.tags

    provider = cell_provider(CellProjectArgs(cell=name, project_id=cell.project_id, region=cell.region, labels=labels))
    management = pulumi.StackReference(management_stack_name(config))
    project_number = management_output(management, mgmt.PROJECT_NUMBERS, name)

    services = ProjectServices(
        name, ProjectServicesArgs(project=cell.project_id, services=CELL_SERVICES), provider=provider
    )
    # Every component below waits for the APIs; the project id itself stays a plain, known string.
    project = cell.project_id
    apis = [services]

    ranges = gke_ranges(cell.network.cidr)
    network = CellNetwork(
        name,
        CellNetworkArgs(
            project=project,
            region=cell.region,
            nodes_cidr=ranges.nodes,
            pods_cidr=ranges.pods,
            services_cidr=ranges.services,
            depends_on=apis,
        ),
        provider=provider,
    )

    sizing = cell.sizing
    cluster = CellCluster(
        name,
        CellClusterArgs(
            project=project,
            project_number=project_number,
            node_service_account=management_output(management, mgmt.NODE_SERVICE_ACCOUNTS, name),
            region=cell.region,
            network=network.network_self_link,
            subnetwork=network.subnet_self_link,
            nodes_cidr=str(ranges.nodes),
            pods_range_name=network.pods_range_name,
            services_range_name=network.services_range_name,
            machine_type=sizing.machine_type,
            min_nodes=sizing.min,
            desired_nodes=sizing.desired,
            max_nodes=sizing.max,
            max_pods_per_node=max_pods_per_node(ranges.pods, sizing.max + SURGE_NODES),
            labels=labels,
            authorized_networks=authorized_networks,
            release_channel=RELEASE_CHANNELS[cell.environment],
            deletion_protection=cell.environment == Environment.prod,
            depends_on=apis,
        ),
        provider=provider,
    )

    dns = CellDns(
        name,
        CellDnsArgs(
            project=project,
            zone_name=registry.zone_name(cell),
            parent_zone_id=org.aws.parent_zone_id,
            labels=labels,
            protect=cell.environment == Environment.prod,
            depends_on=apis,
        ),
        provider=provider,
        delegation_provider=delegation_provider(
            f"{name}-dns-delegation",
            role_arn=management_output(management, mgmt.DNS_DELEGATION_ROLE_ARN),
            cell=name,
            tags=labels,
        ),
    )

    CellIam(
        name,
        CellIamArgs(project=project, grants=access_grants(registry, cell), depends_on=apis),
        provider=provider,
    )

    health = CellHealth(
        name,
        CellHealthArgs(
            project=project,
            cluster_name=cluster_name(name),
            labels=labels,
            notification_email=config.get("healthNotificationEmail"),
            depends_on=apis,
        ),
        provider=provider,
    )

    pulumi.export("cloud", "gcp")
    pulumi.export("projectId", cell.project_id)
    pulumi.export("projectNumber", project_number)
    pulumi.export("region", cell.region)
    pulumi.export("networkName", network.network_name)
    pulumi.export("subnetName", network.subnet_name)
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("clusterEndpoint", cluster.endpoint)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("nodeServiceAccount", cluster.node_service_account_email)
    pulumi.export("zoneName", dns.zone_name)
    pulumi.export("nameServers", dns.name_servers)
    pulumi.export("healthPolicyName", health.policy_name)
    pulumi.export("healthPolicyDisplayName", health.display_name)

    # cert-manager answers DNS-01 for the tenants' wildcard with its own service account's tokens, which the
    # cell's role in the DNS account trusts through an OIDC provider for this cluster (`components.aws.acme_dns`).
    route53 = solver_settings(
        org.aws.parent_zone_id,
        dns01_role_arn(org.aws.dns_account_id, name),
        token_service_account=TOKEN_SERVICE_ACCOUNT,
    )
    application = workloads.deploy(
        registry,
        cell,
        cluster.kubeconfig,
        nodes=[cluster.nodes],
        tenants=workloads.TenantCertificates(route53=route53, token_service_account=TOKEN_SERVICE_ACCOUNT),
    )
    # Every application host (`<component>.<cell zone>`) resolves to the ingress controller's load balancer.
    ingress_dns = IngressDns(
        name,
        IngressDnsArgs(
            project=project,
            managed_zone=dns.managed_zone_name,
            zone_name=registry.zone_name(cell),
            address=application.ingress_address,
            depends_on=apis,
        ),
        provider=provider,
    )
    pulumi.export("ingressAddress", application.ingress_address)
    pulumi.export("ingressRecord", ingress_dns.fqdn)
