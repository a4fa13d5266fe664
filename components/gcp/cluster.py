"""A cell's GKE cluster: regional, private nodes, secrets encrypted with the cell's own KMS key.

- Private nodes (no external IPs; egress through the network's Cloud NAT) and a private IP
  endpoint for the control plane, reachable from the node subnet and the CIDRs the stack
  authorizes (a VPN, for example). People and CI reach the API through GKE's DNS-based
  endpoint instead: every request is authorized by IAM (`container.clusters.connect`), not
  by source address, so no IP endpoint is open to the internet and no bastion is needed.
- Workload identity, shielded nodes, Dataplane V2 (which enforces the workloads' network policies),
  a release channel, managed Prometheus, system and workload logs.
- Kubernetes secrets encrypted in etcd with a Cloud KMS key in a key ring of the cell's project;
  the GKE service agent (`service-<project number>@container-engine-robot.iam.gserviceaccount.com`)
  gets encrypt/decrypt on that key only. The agent is created explicitly (`ServiceIdentity`)
  before the grant, because GCP refuses a grant to a service account that does not exist yet; the
  grant names it by project number, as GKE documents it.
  Key rings cannot be deleted in GCP: recreating a destroyed cell under the same name needs the
  key ring imported.
- No default node pool: one node pool sized by the cell's size, on the cell's dedicated node
  service account (created by the management stack, which grants it image pulls) whose only
  project role is `roles/container.defaultNodeServiceAccount` (logs, metrics, and the metadata
  GKE needs), instead of the broad Compute Engine default service account. The cluster and the
  pool wait for that grant: nodes without it may fail to register and send no logs or metrics
  (GKE reports the cluster degraded).
- A kubeconfig for the DNS endpoint that authenticates through `gke-gcloud-auth-plugin`, for the
  Kubernetes provider (the DNS endpoint serves a publicly trusted certificate: no CA in the file).

Non-goals: Autopilot, GPU pools, multiple node pools.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.gcp.iam import role_slug

#: Every zone of a regional cluster gets the same number of nodes; GKE spreads over three zones.
ZONES = 3
#: The node service account's one project role: what a GKE node needs, nothing more.
NODE_ROLES: tuple[str, ...] = ("roles/container.defaultNodeServiceAccount",)
#: Automatic rotation of the secrets encryption key (90 days).
KEY_ROTATION = f"{90 * 24 * 3600}s"
#: The API whose service agent (`container-engine-robot`) uses the secrets encryption key.
GKE_API = "container.googleapis.com"


def cluster_name(cell: str) -> str:
    """A cell's GKE cluster: `<cell>-gke` (also part of the issuer of its service-account tokens)."""
    return f"{cell}-gke"


def gke_service_agent(project_number: str) -> str:
    """The GKE service agent, as GKE's application-layer secrets encryption guide names it: built from the
    project number, because `generateServiceIdentity` may answer without an email (the provider then
    leaves `email` and `member` empty) and a grant to `serviceAccount:` fails."""
    if not project_number.isdigit():
        raise ValueError(f"a GCP project number is digits, got {project_number!r}")
    return f"service-{project_number}@container-engine-robot.iam.gserviceaccount.com"


def kubeconfig(name: str, endpoint: str, ca_certificate: str | None = None) -> str:
    """A kubeconfig for one cluster; credentials come from gcloud's auth plugin, never from the file.

    Without `ca_certificate` the server's certificate is checked against the system's trusted CAs
    (right for the DNS endpoint); with it, against the cluster's own CA (the IP endpoints).
    """
    ca = [f"    certificate-authority-data: {ca_certificate}"] if ca_certificate else []
    return "\n".join(
        [
            "apiVersion: v1",
            "kind: Config",
            f"current-context: {name}",
            "clusters:",
            f"- name: {name}",
            "  cluster:",
            f"    server: https://{endpoint}",
            *ca,
            "contexts:",
            f"- name: {name}",
            "  context:",
            f"    cluster: {name}",
            f"    user: {name}",
            "users:",
            f"- name: {name}",
            "  user:",
            "    exec:",
            "      apiVersion: client.authentication.k8s.io/v1beta1",
            "      command: gke-gcloud-auth-plugin",
            "      provideClusterInfo: true",
            "      installHint: Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin).",
            "",
        ]
    )


def _dns_endpoint(config: Any) -> str:
    endpoint = (config.dns_endpoint_config.endpoint if config and config.dns_endpoint_config else None) or ""
    if not endpoint:
        raise ValueError(
            "the GKE cluster reports no DNS endpoint: is controlPlaneEndpointsConfig.dnsEndpointConfig set?"
        )
    return endpoint


@dataclass(frozen=True)
class CellClusterArgs:
    project: pulumi.Input[str]
    """The cell's project id."""
    project_number: pulumi.Input[str]
    """The cell's project number (the GKE service agent's address)."""
    node_service_account: pulumi.Input[str]
    """Email of the nodes' service account (the management stack creates it in the cell's project)."""
    region: str
    """The cell's region: the cluster is regional, its key ring lives there too."""
    network: pulumi.Input[str]
    """Self link of the cell's VPC."""
    subnetwork: pulumi.Input[str]
    """Self link of the cell's subnet (nodes on its primary range)."""
    nodes_cidr: str
    """The subnet's primary range: always allowed to reach the control plane."""
    pods_range_name: str
    """Name of the subnet's secondary range for pods."""
    services_range_name: str
    """Name of the subnet's secondary range for services."""
    machine_type: str
    """Machine type of the nodes (from the cell's size)."""
    min_nodes: int
    """Fewest nodes across all zones (autoscaling)."""
    desired_nodes: int
    """Nodes to start with across all zones."""
    max_nodes: int
    """Most nodes across all zones (autoscaling)."""
    max_pods_per_node: int
    """Pod limit per node; small cell CIDRs need a lower limit to fit every node's pod block."""
    labels: Mapping[str, str]
    """The cell's labels, put on the cluster, its nodes and its key."""
    authorized_networks: Sequence[str] = ()
    """CIDRs besides the node subnet that may reach the control plane's private IP endpoint (a VPN, say)."""
    release_channel: str = "REGULAR"
    """GKE release channel: RAPID, REGULAR or STABLE."""
    deletion_protection: bool = True
    """Refuse to delete the cluster (prod)."""
    node_roles: Sequence[str] = field(default=NODE_ROLES)
    """Project roles of the node service account."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What every child waits for: the project's services (the APIs its resources need)."""


class CellCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    node_service_account_email: pulumi.Output[str]
    crypto_key_id: pulumi.Output[str]
    nodes: gcp.container.NodePool
    """The node pool: what the add-ons' pods wait for."""

    def __init__(
        self, name: str, args: CellClusterArgs, *, provider: gcp.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:gcp:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(args.depends_on))
        labels = dict(args.labels)

        # --- secrets encryption key ---------------------------------------------------------
        key_ring = gcp.kms.KeyRing(
            f"{name}-keyring", name=f"{name}-gke", project=args.project, location=args.region, opts=child
        )
        key = gcp.kms.CryptoKey(
            f"{name}-secrets-key",
            name=f"{name}-gke-secrets",
            key_ring=key_ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=KEY_ROTATION,
            labels=labels,
            opts=child,
        )
        # The service agent exists once GCP has generated it: the grant waits for that.
        agent = gcp.projects.ServiceIdentity(f"{name}-gke-agent", project=args.project, service=GKE_API, opts=child)
        key_grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-secrets-key-gke",
            crypto_key_id=key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=pulumi.Output.from_input(args.project_number).apply(
                lambda number: f"serviceAccount:{gke_service_agent(str(number))}"
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[*args.depends_on, agent]),
        )

        # --- node identity ------------------------------------------------------------------
        node_email = pulumi.Output.from_input(args.node_service_account)
        node_member = node_email.apply(lambda email: f"serviceAccount:{email}")
        grants = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role_slug(role)}",
                project=args.project,
                role=role,
                member=node_member,
                opts=child,
            )
            for role in args.node_roles
        ]

        # Access is decided by IAM roles, not by scopes: the full scope, narrowed by the account's one role.
        scopes = ["https://www.googleapis.com/auth/cloud-platform"]

        # --- cluster ------------------------------------------------------------------------
        authorized = [args.nodes_cidr, *(c for c in args.authorized_networks if c != args.nodes_cidr)]
        cluster = gcp.container.Cluster(
            f"{name}-gke",
            name=cluster_name(name),
            project=args.project,
            location=args.region,
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=args.pods_range_name,
                services_secondary_range_name=args.services_range_name,
            ),
            # The default pool is created and deleted at once; it still gets the node identity and
            # shielded VMs, so organizations that disable the default compute account can create it.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=node_email,
                oauth_scopes=scopes,
                resource_labels=labels,
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=True,
            ),
            control_plane_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigArgs(
                dns_endpoint_config=gcp.container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
                    allow_external_traffic=True
                )
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=cidr, display_name="nodes" if cidr == args.nodes_cidr else f"authorized-{i}"
                    )
                    for i, cidr in enumerate(authorized)
                ],
                gcp_public_cidrs_access_enabled=False,
            ),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=pulumi.Output.concat(args.project, ".svc.id.goog")
            ),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=args.release_channel),
            enable_shielded_nodes=True,
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(state="ENCRYPTED", key_name=key.id),
            datapath_provider="ADVANCED_DATAPATH",
            logging_config=gcp.container.ClusterLoggingConfigArgs(enable_components=["SYSTEM_COMPONENTS", "WORKLOADS"]),
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS"],
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            ),
            resource_labels=labels,
            deletion_protection=args.deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                # The default pool's nodes start with the cluster: the key must be usable, the node account granted.
                depends_on=[key_grant, *grants, *args.depends_on],
                # Only the removed default pool reads node_config; a change there must not replace the cluster.
                ignore_changes=["nodeConfig"],
            ),
        )

        # --- node pool ----------------------------------------------------------------------
        self.nodes = gcp.container.NodePool(
            f"{name}-nodes",
            name=f"{name}-nodes",
            project=args.project,
            location=args.region,
            cluster=cluster.name,
            # Per zone; the autoscaler owns the count afterwards, so a size change must not replace the pool.
            initial_node_count=math.ceil(args.desired_nodes / ZONES),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=args.min_nodes,
                total_max_node_count=args.max_nodes,
                location_policy="BALANCED",
            ),
            max_pods_per_node=args.max_pods_per_node,
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(max_surge=1, max_unavailable=0),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                service_account=node_email,
                oauth_scopes=scopes,
                resource_labels=labels,
                machine_type=args.machine_type,
                image_type="COS_CONTAINERD",
                disk_type="pd-balanced",
                disk_size_gb=100,
                labels=labels,
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                depends_on=[*grants, *args.depends_on],
                ignore_changes=["initialNodeCount"],
            ),
        )

        self.cluster_name = cluster.name
        self.endpoint = cluster.control_plane_endpoints_config.apply(_dns_endpoint)
        context = pulumi.Output.concat("gke_", args.project, "_", args.region, "_", cluster.name)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(context, self.endpoint).apply(lambda v: kubeconfig(v[0], v[1]))
        )
        self.node_service_account_email = node_email
        self.crypto_key_id = key.id
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "kubeconfig": self.kubeconfig,
                "node_service_account_email": self.node_service_account_email,
                "crypto_key_id": self.crypto_key_id,
            }
        )
