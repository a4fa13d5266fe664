"""A cell's EKS cluster: IAM roles, KMS envelope encryption of secrets, logging, a managed node group and
the metrics-server add-on (the autoscalers' CPU metrics).

The API endpoint is always reachable from inside the VPC; from outside only when the caller
allows it (never for prod, restricted CIDRs otherwise). Access is through EKS access entries
(authentication mode API): the creator (the organization's access role the cell provider
assumes) is admin, and the caller may add more roles. The kubeconfig runs
`aws eks get-token --role-arn <access role>`, so whoever holds it reaches the cluster as the
same role that built it, from any starting credentials the organization trusts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws.iam import document, managed_policy_arn, service_trust_policy

DEFAULT_VERSION = "1.33"
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy", "AmazonEKSVPCResourceController")
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
)
#: The EKS community add-on that serves `metrics.k8s.io`, which the workloads' autoscalers read.
#: GKE runs a metrics server itself, so only EKS clusters get it.
METRICS_SERVER_ADDON = "metrics-server"
ADMIN_ACCESS_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
EDIT_ACCESS_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
VIEW_ACCESS_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
#: The VPC CNI enforces NetworkPolicies only when its add-on says so, from VPC CNI 1.14 on clusters
#: of Kubernetes 1.25 or later (EKS user guide, "Restrict Pod network traffic with Kubernetes network
#: policies"); without it every NetworkPolicy is accepted and ignored.
VPC_CNI_ADDON = "vpc-cni"
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}
NETWORK_POLICY_MIN_VERSION = (1, 25)


def kubernetes_version(version: str) -> tuple[int, int]:
    """`1.33` as (1, 33); anything else is an error, not a silent pass."""
    try:
        major, minor = (int(part) for part in version.split("."))
    except ValueError:
        raise ValueError(f"EKS version {version!r} is not <major>.<minor>, e.g. {DEFAULT_VERSION!r}") from None
    return major, minor


def secrets_key_policy(account_id: str, cluster_role_arn: str, partition: str = "aws") -> str:
    """The EKS secrets key's own policy: the account administers it (IAM policies decide who
    within), and the cluster's role may use it for envelope encryption and the grant EKS needs."""
    return document(
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "ClusterEncryptsSecrets",
            "Effect": "Allow",
            "Principal": {"AWS": cluster_role_arn},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"],
            "Resource": "*",
        },
    )


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str, role_arn: str) -> str:
    """A kubeconfig (JSON) whose token comes from `aws eks get-token` as `role_arn`."""
    user = f"{cluster_name}-{region}"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": user, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
            "contexts": [{"name": user, "context": {"cluster": user, "user": user}}],
            "current-context": user,
            "users": [
                {
                    "name": user,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                cluster_name,
                                "--region",
                                region,
                                "--role-arn",
                                role_arn,
                                "--output",
                                "json",
                            ],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def first_autoscaling_group(resources: Sequence[aws.eks.outputs.NodeGroupResource] | None) -> str:
    """The Auto Scaling group EKS made for a node group ("" until it exists)."""
    for resource in resources or []:
        for group in resource.autoscaling_groups or []:
            if group.name:
                return group.name
    return ""


def api_ingress(
    name: str, cluster: aws.eks.Cluster, args: CellClusterArgs, child: pulumi.ResourceOptions
) -> list[aws.vpc.SecurityGroupIngressRule]:
    """443 on the cluster security group (which EKS creates admitting only itself) from the deploy runner."""
    group_id = cluster.vpc_config.apply(lambda c: c.cluster_security_group_id or "")
    # (stable key, cidr, security group): exactly one source per rule, as the API requires.
    sources: list[tuple[str, str | None, str | None]] = [
        (re.sub(r"[^0-9a-z]+", "-", cidr), cidr, None) for cidr in args.api_ingress_cidrs
    ]
    sources += [(sg, None, sg) for sg in args.api_ingress_security_group_ids]
    return [
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-api-from-{key}",
            security_group_id=group_id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=cidr,
            referenced_security_group_id=group,
            description="Kubernetes API from the deploy runner",
            opts=child,
        )
        for key, cidr, group in sources
    ]


@dataclass(frozen=True)
class NodeGroupSize:
    min: int
    desired: int
    max: int
    instance_type: str


@dataclass(frozen=True)
class CellClusterArgs:
    cluster_name: str
    """The EKS cluster's name (the cell's name: one cluster per cell account)."""
    region: str
    """The cell's region, for the kubeconfig."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets for the control plane's interfaces and the nodes."""
    nodes: NodeGroupSize
    """The managed node group's size, from the cell's `size`."""
    access_role_arn: pulumi.Input[str]
    """The role the kubeconfig assumes: the one the cell provider (and so the cluster's creator) uses."""
    public_access_cidrs: Sequence[str] = ()
    """Networks that may reach the public endpoint; empty turns the public endpoint off."""
    api_ingress_cidrs: Sequence[str] = ()
    """Networks inside the VPC admitted to the private endpoint on 443 (an in-network deploy runner)."""
    api_ingress_security_group_ids: Sequence[str] = ()
    """Security groups admitted to the private endpoint on 443 (an in-network deploy runner)."""
    admin_role_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """More cluster admins, keyed by a stable id (e.g. `deployer`)."""
    viewer_role_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Read-only cluster users, keyed by a stable id."""
    version: str = DEFAULT_VERSION
    """Kubernetes version of the control plane."""
    log_retention_days: int = 90
    """How long control-plane logs are kept."""
    kubeconfig_role_arn: pulumi.Input[str] | None = None
    """The role the exported everyday kubeconfig (`operator_kubeconfig`) assumes; default the access role."""
    deletion_protection: bool = False
    """Refuse `DeleteCluster` until protection is turned off (prod)."""


class CellCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    """For the stack's own Kubernetes provider: the access role, the cluster's creator."""
    operator_kubeconfig: pulumi.Output[str]
    """The everyday one, exported: `kubeconfig_role_arn` (the read-only role in a cell)."""
    node_role_arn: pulumi.Output[str]
    node_group_name: pulumi.Output[str]
    autoscaling_group_name: pulumi.Output[str]
    nodes: aws.eks.NodeGroup
    """The managed node group: what the add-ons' pods wait for."""

    def __init__(
        self, name: str, args: CellClusterArgs, *, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:aws:CellCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        def role(suffix: str, service: str, policies: Sequence[str]) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
            role = aws.iam.Role(
                f"{name}-{suffix}",
                name=f"{name}-{suffix}",
                assume_role_policy=service_trust_policy(service),
                opts=child,
            )
            attachments: list[pulumi.Resource] = [
                aws.iam.RolePolicyAttachment(
                    f"{name}-{suffix}-{policy}", role=role.name, policy_arn=managed_policy_arn(policy), opts=child
                )
                for policy in policies
            ]
            return role, attachments

        cluster_role, cluster_attachments = role("cluster", "eks.amazonaws.com", CLUSTER_POLICIES)
        node_role, node_attachments = role("nodes", "ec2.amazonaws.com", NODE_POLICIES)

        if kubernetes_version(args.version) < NETWORK_POLICY_MIN_VERSION:
            raise ValueError(f"EKS {args.version} cannot enforce NetworkPolicies with the VPC CNI: use 1.25 or later")
        key = self._secrets_key(name, args, cluster_role, child)

        # EKS would create this group itself, keeping logs forever; creating it first sets the retention.
        logs = aws.cloudwatch.LogGroup(
            f"{name}-cluster-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        public = bool(args.public_access_cidrs)
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=args.cluster_name,
            version=args.version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=public,
                public_access_cidrs=list(args.public_access_cidrs) if public else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn)
            ),
            enabled_cluster_log_types=list(LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            deletion_protection=args.deletion_protection,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[logs, *cluster_attachments]),
        )

        # The stack's Kubernetes provider (and so every Helm release and workload) reads `kubeconfig`: it
        # carries the rules' ids, so an in-network runner's first `up` calls the API only once 443 is open.
        runner_rules = api_ingress(name, cluster, args, child)

        for key_id, principal in args.admin_role_arns.items():
            self._access(name, cluster, key_id, principal, ADMIN_ACCESS_POLICY, child)
        for key_id, principal in args.viewer_role_arns.items():
            self._access(name, cluster, key_id, principal, VIEW_ACCESS_POLICY, child)

        network_policy = self._network_policy_addon(name, cluster, provider)
        nodes = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=cluster.name,
            # No node_group_name: Pulumi names it `<cell>-nodes-<random>`. A change EKS cannot update in place
            # (instance type, AMI type, subnets) replaces the group, create before delete, and a fixed name
            # would make the new group's CreateNodegroup fail with ResourceInUseException.
            node_role_arn=node_role.arn,
            subnet_ids=list(args.subnet_ids),
            instance_types=[args.nodes.instance_type],
            capacity_type="ON_DEMAND",
            ami_type="AL2023_x86_64_STANDARD",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=args.nodes.min, desired_size=args.nodes.desired, max_size=args.nodes.max
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={"honeycomb/cell": args.cluster_name},
            # Nodes only join once their role may pull images and run the CNI, and start with the CNI's
            # network-policy agent. The cluster autoscaler (components.aws.autoscaler) owns the desired
            # size after creation.
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                depends_on=[*node_attachments, network_policy],
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

        # No addon_version: EKS installs the default version for the cluster's Kubernetes version. Its pods
        # need nodes to become ACTIVE, so it waits for the node group.
        aws.eks.Addon(
            f"{name}-metrics-server",
            cluster_name=cluster.name,
            addon_name=METRICS_SERVER_ADDON,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="PRESERVE",
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[nodes]),
        )

        self.nodes = nodes
        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.node_role_arn = node_role.arn
        self.node_group_name = nodes.node_group_name
        self.autoscaling_group_name = nodes.resources.apply(first_autoscaling_group)

        def config_for(role: pulumi.Input[str], after: Sequence[pulumi.CustomResource] = ()) -> pulumi.Output[str]:
            waits = [rule.id for rule in after]
            parts = pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data, role, *waits)
            return pulumi.Output.secret(parts.apply(lambda v: kubeconfig(v[0], v[1], v[2], args.region, v[3])))

        self.kubeconfig = config_for(args.access_role_arn, runner_rules)
        self.operator_kubeconfig = config_for(args.kubeconfig_role_arn or args.access_role_arn)
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "kubeconfig": self.kubeconfig,
                "operator_kubeconfig": self.operator_kubeconfig,
                "node_role_arn": self.node_role_arn,
                "node_group_name": self.node_group_name,
                "autoscaling_group_name": self.autoscaling_group_name,
            }
        )

    def _secrets_key(
        self, name: str, args: CellClusterArgs, cluster_role: aws.iam.Role, child: pulumi.ResourceOptions
    ) -> aws.kms.Key:
        """The KMS key of the cluster's secrets, with an explicit key policy (not KMS's default)."""
        # The role's ARN names the account and partition the key lives in.
        policy = cluster_role.arn.apply(lambda arn: secrets_key_policy(arn.split(":")[4], arn, arn.split(":")[1]))
        key = aws.kms.Key(
            f"{name}-eks",
            description=f"Envelope encryption of the {args.cluster_name} cluster's Kubernetes secrets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy,
            opts=child,
        )
        aws.kms.Alias(f"{name}-eks", name=f"alias/{name}-eks", target_key_id=key.key_id, opts=child)
        return key

    def _network_policy_addon(self, name: str, cluster: aws.eks.Cluster, provider: aws.Provider) -> aws.eks.Addon:
        """The VPC CNI as a managed add-on with network-policy enforcement on (EKS installs the CNI
        unmanaged and with it off). OVERWRITE takes the CNI over on create and keeps the setting on
        every update; no version pin, so EKS picks the default for the cluster's version (>= 1.14
        on every version that supports network policies)."""
        return aws.eks.Addon(
            f"{name}-vpc-cni",
            cluster_name=cluster.name,
            addon_name=VPC_CNI_ADDON,
            configuration_values=json.dumps(VPC_CNI_CONFIGURATION, sort_keys=True),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )

    @staticmethod
    def _access(
        name: str,
        cluster: aws.eks.Cluster,
        key_id: str,
        principal: pulumi.Input[str],
        policy_arn: str,
        child: pulumi.ResourceOptions,
    ) -> None:
        entry = aws.eks.AccessEntry(
            f"{name}-access-{key_id}", cluster_name=cluster.name, principal_arn=principal, type="STANDARD", opts=child
        )
        aws.eks.AccessPolicyAssociation(
            f"{name}-access-{key_id}",
            cluster_name=cluster.name,
            principal_arn=entry.principal_arn,
            policy_arn=policy_arn,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=child,
        )
