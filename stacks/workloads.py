"""The application's standard workloads on a cell's cluster; both cell programs call `deploy`.

AWS and GCP cells differ in how they build a cluster, not in what runs on it: each passes its
cluster's kubeconfig here and gets the same cluster add-ons (ingress-nginx, cert-manager and its
ClusterIssuer) and the same namespaces, Deployments, Services, autoscalers, disruption budgets,
network policies and Ingresses, sized by the cell's `size` and adjusted by its own `overrides`
only. The cell program points the cell's wildcard DNS record at the add-ons' ingress address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from cells import AwsCell, Environment, GcpCell, Registry
from components.k8s.addons import CLUSTER_ISSUER, INGRESS_CLASS, INGRESS_NAMESPACE, ClusterAddons
from components.k8s.spec import cell_identity, cell_workloads
from components.k8s.workloads import Workloads

__all__ = ["CLUSTER_ISSUER", "INGRESS_CLASS", "INGRESS_NAMESPACE", "CellApplication", "deploy", "provider"]

#: Ingress controller pods per environment: two in prod, so one node's loss never drops the cell's traffic.
CONTROLLER_REPLICAS = {Environment.prod: 2, Environment.preprod: 1, Environment.dev: 1}


def provider(cell: AwsCell | GcpCell, kubeconfig: pulumi.Input[str]) -> k8s.Provider:
    """The cell's explicit Kubernetes provider (`<cell>-k8s`); server-side apply lets the autoscaler and
    controllers own their fields without Pulumi fighting them."""
    return k8s.Provider(f"{cell.name}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True)


def service_annotations(cell: AwsCell | GcpCell) -> dict[str, str]:
    """How the cloud builds the ingress controller's load balancer.

    EKS: a Network Load Balancer (the cloud controller's default is a Classic ELB) in the public
    subnets tagged `kubernetes.io/role/elb`, carrying the cell's tags. GKE: its default external
    passthrough load balancer needs no annotation.
    """
    if isinstance(cell, AwsCell):
        tags = ",".join(f"{key}={value}" for key, value in sorted(cell.tags.items()))
        return {
            "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
            "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags": tags,
        }
    return {}


@dataclass(frozen=True)
class CellApplication:
    """What `deploy` put on the cluster: the add-ons and the workloads that wait for them."""

    addons: ClusterAddons
    workloads: Workloads
    provider: k8s.Provider
    """The cell's Kubernetes provider, for cloud-specific add-ons the cell program installs."""

    @property
    def ingress_address(self) -> pulumi.Output[str]:
        """The ingress controller's load balancer (AWS: a hostname, GCP: an IP): the wildcard record's target."""
        return self.addons.ingress_address

    @property
    def hosts(self) -> pulumi.Output[dict[str, str]]:
        return self.workloads.hosts

    @property
    def namespaces(self) -> pulumi.Output[dict[str, str]]:
        return self.workloads.namespaces


def deploy(
    registry: Registry, cell: AwsCell | GcpCell, kubeconfig: pulumi.Input[str], nodes: Sequence[pulumi.Resource] = ()
) -> CellApplication:
    """Install the cluster add-ons, then every application component onto the cell's cluster.

    The add-ons wait for `nodes` (the node group or pool): on a first `up` their pods have nowhere to
    run until it exists, and Helm's wait (`RELEASE_TIMEOUT`) would otherwise start with the cluster.
    """
    k8s_provider = provider(cell, kubeconfig)
    addons = ClusterAddons(
        f"{cell.name}-addons",
        {
            "labels": cell.tags,
            "controller_replicas": CONTROLLER_REPLICAS[cell.environment],
            "service_annotations": service_annotations(cell),
            # GKE cells run managed Prometheus (`components.gcp.cluster`): it scrapes the controller.
            "pod_monitoring": isinstance(cell, GcpCell),
            "releases_depend_on": list(nodes),
        },
        provider=k8s_provider,
    )
    workloads = Workloads(
        f"{cell.name}-workloads",
        {
            "components": cell_workloads(registry.organization.components, cell),
            "cell": cell_identity(cell, registry.organization.domain),
            "labels": cell.tags,
            "ingress_class": addons.ingress_class,
            "ingress_namespace": addons.ingress_namespace,
            "cluster_issuer": addons.cluster_issuer,
            # Each Ingress waits for the controller (which gives it an address) and the issuer.
            "ingress_depends_on": [addons],
        },
        provider=k8s_provider,
        opts=pulumi.ResourceOptions(depends_on=[addons]),
    )
    return CellApplication(addons=addons, workloads=workloads, provider=k8s_provider)
