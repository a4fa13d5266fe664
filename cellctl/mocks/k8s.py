"""Mock outputs of k8s resources and calls (registered in `cellctl.mocks.HANDLERS`).

Like the Kubernetes provider: the id is `<namespace>/<name>` for a namespaced object and
`<name>` for a cluster-scoped one, the metadata echoes name and namespace plus what the API
server adds (uid, resourceVersion, the namespace's `kubernetes.io/metadata.name` label), and
a few objects get the status a healthy cluster reports.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cellctl.mocks import HANDLERS, MockContext, digest

#: Kinds that live outside namespaces (by the type token's last part).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "IngressClass", "StorageClass", "PriorityClass"}
SERVICE_CIDR = ipaddress.IPv4Network("172.20.0.0/16")


def _kind(token: str) -> str:
    return token.rsplit(":", 1)[-1]


@HANDLERS.default("kubernetes")
def kubernetes_object(ctx: MockContext) -> dict[str, Any]:
    kind = _kind(ctx.token)
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


def _status(ctx: MockContext, kind: str) -> dict[str, Any]:
    spec = ctx.inputs.get("spec") or {}
    if kind == "Namespace":
        return {"status": {"phase": "Active"}}
    if kind == "Deployment":
        n = int(spec.get("replicas") or 1)
        return {"status": {"replicas": n, "readyReplicas": n, "availableReplicas": n, "updatedReplicas": n}}
    if kind == "Service" and spec.get("type", "ClusterIP") != "ExternalName":
        offset = int(digest("svc", ctx.name, length=4), 16) % (SERVICE_CIDR.num_addresses - 2) + 1
        return {"spec": {**spec, "clusterIP": str(SERVICE_CIDR[offset])}}
    if kind == "Ingress":
        lb = f"{digest('lb', ctx.name, length=12)}.elb.example.net"
        return {"status": {"loadBalancer": {"ingress": [{"hostname": lb}]}}}
    return {}
