"""The application's standard workloads on a cell's cluster; both cell programs call `deploy`.

AWS and GCP cells differ in how they build a cluster, not in what runs on it: each passes its
cluster's kubeconfig here and gets the same cluster add-ons (ingress-nginx, cert-manager and its
ClusterIssuer) and the same namespaces, Deployments, Services, autoscalers, disruption budgets,
network policies and Ingresses, sized by the cell's `size` and adjusted by its own `overrides`
only. The cell program points the cell's wildcard DNS record at the add-ons' ingress address.

Every cell also serves the tenants' names `<tenant>.<domain>` (CNAMEs to its serving component's
host, `cells.routes`): an Ingress on `*.<domain>` with a certificate from the DNS-01 ClusterIssuer.
How cert-manager reaches the cell's DNS-01 role is the one cloud-specific part (`TenantCertificates`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from cells import AwsCell, Environment, GcpCell, Registry
from components.k8s.addons import (
    CLUSTER_ISSUER,
    INGRESS_CLASS,
    INGRESS_NAMESPACE,
    ClusterAddons,
    ClusterAddonsArgs,
    TenantIssuerArgs,
)
from components.k8s.spec import cell_identity, cell_workloads, tenant_names
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
class TenantCertificates:
    """How the cell's cert-manager answers DNS-01 in the parent zone (`components.aws.acme_dns`)."""

    route53: Mapping[str, Any]
    """The Route53 solver's settings (`acme_dns.solver_settings`)."""
    token_service_account: str | None = None
    """GCP: the service account whose tokens cert-manager exchanges for the role."""
    identity_ready: Sequence[pulumi.Resource] = ()
    """AWS: the Pod Identity association and the role's policy, which cert-manager's pods start after."""
    identity: pulumi.Input[str] | None = None
    """AWS: the Pod Identity association of cert-manager's pods (its id); a new one restarts them."""


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
    registry: Registry,
    cell: AwsCell | GcpCell,
    kubeconfig: pulumi.Input[str],
    nodes: Sequence[pulumi.Resource] = (),
    tenants: TenantCertificates | None = None,
    k8s_provider: k8s.Provider | None = None,
) -> CellApplication:
    """Install the cluster add-ons, then every application component onto the cell's cluster.

    The add-ons wait for `nodes` (the node group or pool): on a first `up` their pods have nowhere to
    run until it exists, and Helm's wait (`RELEASE_TIMEOUT`) would otherwise start with the cluster.
    With `tenants`, the serving component also answers every tenant name of the organization.
    `k8s_provider`: the cell's provider (`provider`) when the cell program made it first, for add-ons that
    must exist before these (AWS: the Pod Identity agent cert-manager gets its credentials from).
    """
    org = registry.organization
    identity = cell_identity(cell, org.domain)
    addons_args: ClusterAddonsArgs = {
        "labels": cell.tags,
        "controller_replicas": CONTROLLER_REPLICAS[cell.environment],
        "service_annotations": service_annotations(cell),
        # GKE cells run managed Prometheus (`components.gcp.cluster`): it scrapes the controller.
        "pod_monitoring": isinstance(cell, GcpCell),
        "releases_depend_on": list(nodes),
    }
    names = None
    if tenants is not None:
        names = tenant_names(org.domain, org.routing.component, identity)
        issuer: TenantIssuerArgs = {
            "names": names,
            "route53": tenants.route53,
            "identity_ready": list(tenants.identity_ready),
        }
        if tenants.token_service_account is not None:
            issuer["token_service_account"] = tenants.token_service_account
        if tenants.identity is not None:
            issuer["identity"] = tenants.identity
        addons_args["tenant_issuer"] = issuer
    k8s_provider = k8s_provider or provider(cell, kubeconfig)
    addons = ClusterAddons(f"{cell.name}-addons", addons_args, provider=k8s_provider)
    workloads = Workloads(
        f"{cell.name}-workloads",
        {
            "components": cell_workloads(org.components, cell),
            "cell": identity,
            "labels": cell.tags,
            "ingress_class": addons.ingress_class,
            "ingress_namespace": addons.ingress_namespace,
            "cluster_issuer": addons.cluster_issuer,
            "tenant_names": names,
            "tenant_issuer": addons.tenant_issuer,
            # Each Ingress waits for the controller (which gives it an address) and the issuer.
            "ingress_depends_on": [addons],
        },
        provider=k8s_provider,
        opts=pulumi.ResourceOptions(depends_on=[addons]),
    )
    return CellApplication(addons=addons, workloads=workloads, provider=k8s_provider)
