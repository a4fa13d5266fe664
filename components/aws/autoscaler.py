"""Node autoscaling for a cell's EKS cluster: the Kubernetes Cluster Autoscaler with EKS Pod Identity.

Why the Cluster Autoscaler: the cell already runs one managed node group sized by the registry
(min/max per `size`), and the autoscaler scales exactly that group between those bounds, the same
model GKE's node pool autoscaling uses. The offline capacity check (`policies.capacity`) reads the
same maximum on both clouds. Karpenter would replace the node group with its own NodePools (an
interruption queue, EventBridge rules, an EC2NodeClass, a controller that must not run on the
nodes it manages); EKS Auto Mode changes the cluster itself (compute, storage and load-balancing
configs together, its own load balancer controller) and would replace the node group, the VPC CNI
add-on configuration and the NLB the ingress controller asks for. Both are larger moves than
"scale the group we have".

What the autoscaler needs (kubernetes/autoscaler `cluster-autoscaler/cloudprovider/aws/README.md`,
EKS user guide "EKS Pod Identity"):
- the `eks-pod-identity-agent` add-on, and an IAM role trusted by `pods.eks.amazonaws.com`
  (`sts:AssumeRole` + `sts:TagSession`), limited by the session tags Pod Identity sets to this
  cluster's `kube-system/cluster-autoscaler` service account, associated to that account;
- the README's full-features policy (auto-discovery): describe calls on `*`, and
  `SetDesiredCapacity`/`TerminateInstanceInAutoScalingGroup` only on groups tagged
  `k8s.io/cluster-autoscaler/<cluster>` = `owned`, the tag EKS puts on a managed node group's
  Auto Scaling group (with `k8s.io/cluster-autoscaler/enabled`), which auto-discovery looks for;
- the chart and image pinned, the autoscaler's minor equal to the cluster's Kubernetes minor (the
  README's "Releases" table: "We recommend using Cluster Autoscaler with the Kubernetes control plane
  version for which it was meant"). `RELEASES` maps each supported minor to the last chart release
  of that app version and the image tag that chart's values.yaml sets; another minor is an error.
The node group's desired size belongs to the autoscaler afterwards: `components.aws.cluster`
ignores it after creation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws.iam import document, pod_identity_trust_policy

CHART = "cluster-autoscaler"


@dataclass(frozen=True)
class AutoscalerRelease:
    chart: str
    """The chart's version."""
    image: str
    """The autoscaler image's tag (the chart's own `image.tag` default, set explicitly)."""


#: Cluster Kubernetes minor -> the last `cluster-autoscaler-chart-*` release whose appVersion has that
#: minor, with its `image.tag` (kubernetes/autoscaler tags; chart 9.47.0-9.51.0 ship 1.33.0).
RELEASES: dict[str, AutoscalerRelease] = {
    "1.32": AutoscalerRelease(chart="9.46.6", image="v1.32.0"),
    "1.33": AutoscalerRelease(chart="9.51.0", image="v1.33.0"),
    "1.34": AutoscalerRelease(chart="9.53.0", image="v1.34.2"),
    "1.35": AutoscalerRelease(chart="9.59.0", image="v1.35.0"),
}
IMAGE_REPOSITORY = "registry.k8s.io/autoscaling/cluster-autoscaler"
CHART_REPO = "https://kubernetes.github.io/autoscaler"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
POD_IDENTITY_AGENT = "eks-pod-identity-agent"
#: Requests and limits of the autoscaler's pod (the chart sets none).
RESOURCES = {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"cpu": "500m", "memory": "600Mi"}}
DESCRIBE_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
)
SCALE_ACTIONS = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")


class AutoscalerVersionError(ValueError):
    """No pinned autoscaler release for the cluster's Kubernetes version; the message says which exist."""


def release_for(kubernetes_version: str) -> AutoscalerRelease:
    """The pinned autoscaler for an EKS control plane of `kubernetes_version` (`1.33`)."""
    release = RELEASES.get(kubernetes_version)
    if release is None:
        raise AutoscalerVersionError(
            f"EKS version {kubernetes_version!r} has no pinned Cluster Autoscaler release (its minor must match "
            f"the cluster's); supported: {', '.join(RELEASES)}. Add the chart and image for it to "
            "components.aws.autoscaler.RELEASES"
        )
    return release


def discovery_tag(cluster_name: str) -> str:
    return f"k8s.io/cluster-autoscaler/{cluster_name}"


def trust_policy(cluster_name: str) -> str:
    """EKS Pod Identity may assume the role, only for this cluster's autoscaler service account."""
    return pod_identity_trust_policy(cluster_name, NAMESPACE, SERVICE_ACCOUNT)


def policy(cluster_name: str, partition: str = "aws") -> str:
    """Describe what has no resource-level permission; read and scale only the cluster's own node groups.

    `eks:DescribeNodegroup` and the scale actions take resource ARNs (IAM's service authorization
    reference, as shipped in parliament), so they name the cluster's node groups and Auto Scaling
    groups; the scale actions also need the `owned` tag EKS puts on a managed node group's group.
    """
    return document(
        {"Sid": "Discover", "Effect": "Allow", "Action": list(DESCRIBE_ACTIONS), "Resource": "*"},
        {
            "Sid": "DescribeOwnNodegroups",
            "Effect": "Allow",
            "Action": ["eks:DescribeNodegroup"],
            "Resource": f"arn:{partition}:eks:*:*:nodegroup/{cluster_name}/*/*",
        },
        {
            "Sid": "ScaleOwnGroups",
            "Effect": "Allow",
            "Action": list(SCALE_ACTIONS),
            "Resource": f"arn:{partition}:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*",
            "Condition": {"StringEquals": {f"aws:ResourceTag/{discovery_tag(cluster_name)}": "owned"}},
        },
    )


def chart_values(cluster_name: str, region: str, release: AutoscalerRelease) -> dict[str, Any]:
    return {
        "fullnameOverride": CHART,
        "image": {"repository": IMAGE_REPOSITORY, "tag": release.image},
        "cloudProvider": "aws",
        "awsRegion": region,
        # Default discovery tags: k8s.io/cluster-autoscaler/enabled and k8s.io/cluster-autoscaler/<cluster>.
        "autoDiscovery": {"clusterName": cluster_name},
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
        "replicaCount": 1,
        "resources": RESOURCES,
        "extraArgs": {
            "balance-similar-node-groups": True,
            "expander": "least-waste",
            # The workloads' pods write to an emptyDir /tmp: without this their nodes never scale down.
            "skip-nodes-with-local-storage": False,
        },
    }


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    cluster_name: pulumi.Input[str]
    """The EKS cluster (its name is also the discovery tag's suffix)."""
    cluster_name_known: str
    """The same name as a plain string, for documents and names known before the cluster exists."""
    region: str
    """The cell's region (the autoscaler's AWS API calls)."""
    release: AutoscalerRelease
    """The chart and image for the cluster's Kubernetes version (`release_for`)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist first: the node group (add-on pods need nodes)."""


class ClusterAutoscaler(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    pod_identity_agent: aws.eks.Addon
    """The cluster's EKS Pod Identity agent: whatever else gets credentials through Pod Identity waits for it."""

    def __init__(
        self,
        name: str,
        args: ClusterAutoscalerArgs,
        *,
        provider: aws.Provider,
        k8s_provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:ClusterAutoscaler", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        after_nodes = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(args.depends_on))

        agent = aws.eks.Addon(
            f"{name}-pod-identity-agent",
            cluster_name=args.cluster_name,
            addon_name=POD_IDENTITY_AGENT,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="PRESERVE",
            opts=after_nodes,
        )
        role = aws.iam.Role(
            f"{name}-cluster-autoscaler",
            name=f"{name}-cluster-autoscaler",
            assume_role_policy=trust_policy(args.cluster_name_known),
            opts=child,
        )
        grant = aws.iam.RolePolicy(
            f"{name}-cluster-autoscaler", role=role.id, policy=policy(args.cluster_name_known), opts=child
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-cluster-autoscaler",
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=child,
        )
        # Pod Identity injects credentials when the pod starts: the association, its policy and the agent first.
        k8s.helm.v3.Release(
            f"{name}-cluster-autoscaler",
            name=CHART,
            chart=CHART,
            version=args.release.chart,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
            namespace=NAMESPACE,
            values=chart_values(args.cluster_name_known, args.region, args.release),
            cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=k8s_provider,
                depends_on=[agent, grant, association, *args.depends_on],
            ),
        )
        self.role_arn = role.arn
        self.pod_identity_agent = agent
        self.register_outputs({"role_arn": self.role_arn})
