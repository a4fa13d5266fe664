"""Mock outputs of k8s resources and calls (registered in `cellctl.mocks.HANDLERS`).

Like the Kubernetes provider: the id is `<namespace>/<name>` for a namespaced object and
`<name>` for a cluster-scoped one, the metadata echoes name and namespace plus what the API
server adds (uid, resourceVersion, the namespace's `kubernetes.io/metadata.name` label), and
a few objects get the status a healthy cluster reports (a LoadBalancer Service its cloud's address).
A Helm release reports itself deployed;
a Service read by id (what a program reads is an ingress controller's) is a LoadBalancer with
the address its cloud gives: a hostname on EKS, an IP address on GKE, told apart by the
provider's kubeconfig (else by the stack's cell in the registry).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi

from cellctl.mocks import HANDLERS, MockContext, digest
from cells import AwsCell

#: Kinds that live outside namespaces (by the type token's last part).
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "IngressClass",
    "StorageClass",
    "PriorityClass",
    "ClusterIssuer",
}
SERVICE_CIDR = ipaddress.IPv4Network("172.20.0.0/16")
#: The cluster's ingress controller Service (`<namespace>/<name>`), whose address every Ingress reports.
INGRESS_CONTROLLER = "ingress-nginx/ingress-nginx-controller"
#: Public addresses of GKE load balancers come from here (TEST-NET-3: plausible, never routed).
LOAD_BALANCER_IPS = ipaddress.IPv4Network("203.0.113.0/24")


def _kind(token: str) -> str:
    return token.rsplit(":", 1)[-1]


def _plain(value: Any) -> Any:
    """A provider input's value, whether or not it arrived wrapped as a secret."""
    return value.get("value") if isinstance(value, dict) and "value" in value else value


def _region(kubeconfig: str) -> str:
    """The region in an EKS kubeconfig's `aws eks get-token --region <region>` arguments."""
    parts = kubeconfig.replace('"', " ").replace(",", " ").split()
    return parts[parts.index("--region") + 1] if "--region" in parts[:-1] else "us-east-1"


def load_balancer(ctx: MockContext, key: str) -> dict[str, str]:
    """One load balancer ingress entry as the cluster's cloud reports it."""
    kubeconfig = str(_plain(ctx.provider.get("kubeconfig")) or "")
    if "eks" in kubeconfig and "get-token" in kubeconfig:
        aws, region = True, _region(kubeconfig)
    elif "gke-gcloud-auth-plugin" in kubeconfig:
        aws, region = False, ""
    else:
        stack = pulumi.get_stack()
        cell = next((c for c in ctx.registry.cells if c.stack_name == stack), None)
        aws, region = not (cell is not None and not isinstance(cell, AwsCell)), getattr(cell, "region", "us-east-1")
    if aws:
        name = f"a{digest('lb', key, length=31)}-{digest('lb-id', key, length=16)}"
        return {"hostname": f"{name}.elb.{region}.amazonaws.com"}
    offset = int(digest("lb", key, length=4), 16) % (LOAD_BALANCER_IPS.num_addresses - 2) + 1
    return {"ip": str(LOAD_BALANCER_IPS[offset])}


@HANDLERS.resource("kubernetes:helm.sh/v3:Release")
def helm_release(ctx: MockContext) -> dict[str, Any]:
    name = ctx.inputs.get("name") or f"{ctx.name}-{digest(ctx.token, ctx.name, length=8)}"
    namespace = ctx.inputs.get("namespace") or "default"
    chart, version = ctx.inputs.get("chart"), ctx.inputs.get("version")
    return {
        "id": f"{namespace}/{name}",
        "name": name,
        "namespace": namespace,
        "status": {
            "name": name,
            "namespace": namespace,
            "chart": chart,
            "version": version,
            "appVersion": str(version or "").lstrip("v"),
            "revision": 1,
            "status": "deployed",
        },
    }


@HANDLERS.default("kubernetes")
def kubernetes_object(ctx: MockContext) -> dict[str, Any]:
    kind = _kind(ctx.token)
    if ctx.resource_id and not ctx.inputs.get("metadata"):
        return _read(ctx, kind)
    meta = dict(ctx.inputs.get("metadata") or {})
    name = meta.get("name") or f"{ctx.name}-{digest(ctx.token, ctx.name, length=8)}"
    meta["name"] = name
    h = digest("uid", ctx.token, ctx.name, length=32)
    meta["uid"] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    meta["resourceVersion"] = "1"
    if kind in CLUSTER_SCOPED:
        meta.pop("namespace", None)
        rid = name
    else:
        meta.setdefault("namespace", "default")
        rid = f"{meta['namespace']}/{name}"
    if kind == "Namespace":
        meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": name}
    return {"id": rid, "metadata": meta, **_status(ctx, kind)}


def _read(ctx: MockContext, kind: str) -> dict[str, Any]:
    """An existing object read by id (`<namespace>/<name>`, or `<name>` when cluster-scoped)."""
    rid = str(ctx.resource_id)
    namespace, _, name = rid.rpartition("/")
    meta: dict[str, Any] = {"name": name, "resourceVersion": "1"}
    if kind not in CLUSTER_SCOPED:
        meta["namespace"] = namespace or "default"
    h = digest("uid", ctx.token, rid, length=32)
    meta["uid"] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    outputs: dict[str, Any] = {"id": rid, "metadata": meta}
    if kind == "Service":
        offset = int(digest("svc", rid, length=4), 16) % (SERVICE_CIDR.num_addresses - 2) + 1
        outputs["spec"] = {"type": "LoadBalancer", "clusterIP": str(SERVICE_CIDR[offset])}
        outputs["status"] = {"loadBalancer": {"ingress": [load_balancer(ctx, rid)]}}
    return outputs


def _status(ctx: MockContext, kind: str) -> dict[str, Any]:
    spec = ctx.inputs.get("spec") or {}
    if kind == "Namespace":
        return {"status": {"phase": "Active"}}
    if kind == "Deployment":
        n = int(spec.get("replicas") or 1)
        return {"status": {"replicas": n, "readyReplicas": n, "availableReplicas": n, "updatedReplicas": n}}
    if kind == "Service" and spec.get("type", "ClusterIP") != "ExternalName":
        offset = int(digest("svc", ctx.name, length=4), 16) % (SERVICE_CIDR.num_addresses - 2) + 1
        outputs: dict[str, Any] = {"spec": {**spec, "clusterIP": str(SERVICE_CIDR[offset])}}
        if spec.get("type") == "LoadBalancer":  # the cloud's load balancer publishes its address
            outputs["status"] = {"loadBalancer": {"ingress": [load_balancer(ctx, f"service/{ctx.name}")]}}
        return outputs
    if kind == "Ingress":
        # The ingress controller publishes its own Service's address on every Ingress of its class.
        return {"status": {"loadBalancer": {"ingress": [load_balancer(ctx, INGRESS_CONTROLLER)]}}}
    return {}
