"""The application's standard workloads on a cell's cluster; both cell programs call `deploy`.

AWS and GCP cells differ in how they build a cluster, not in what runs on it: each passes its
cluster's kubeconfig here and gets the same namespaces, Deployments, Services, autoscalers,
disruption budgets, network policies and Ingresses, sized by the cell's `size` and adjusted by
its own `overrides` only.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from cells import AwsCell, GcpCell, Registry
from components.k8s.spec import cell_identity, cell_workloads
from components.k8s.workloads import Workloads

#: What the workloads expect of every cell's cluster, on either cloud, so Ingresses and network policies are
#: identical in every cell: the ingress-nginx controller (this class, in this namespace), cert-manager with this
#: ClusterIssuer (it fills each component's `<component>-tls` secret) and a metrics server for the autoscalers.
INGRESS_CLASS = "nginx"
INGRESS_NAMESPACE = "ingress-nginx"
CLUSTER_ISSUER = "letsencrypt"


def provider(cell: AwsCell | GcpCell, kubeconfig: pulumi.Input[str]) -> k8s.Provider:
    """The cell's explicit Kubernetes provider (`<cell>-k8s`); server-side apply lets the autoscaler and
    controllers own their fields without Pulumi fighting them."""
    return k8s.Provider(f"{cell.name}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True)


def deploy(registry: Registry, cell: AwsCell | GcpCell, kubeconfig: pulumi.Input[str]) -> Workloads:
    """Deploy every application component onto the cell's cluster."""
    return Workloads(
        f"{cell.name}-workloads",
        {
            "components": cell_workloads(registry.organization.components, cell),
            "cell": cell_identity(cell, registry.organization.domain),
            "labels": cell.tags,
            "ingress_class": INGRESS_CLASS,
            "ingress_namespace": INGRESS_NAMESPACE,
            "cluster_issuer": CLUSTER_ISSUER,
        },
        provider=provider(cell, kubeconfig),
    )
