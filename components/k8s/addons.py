"""What the application's workloads need of a cell's cluster, whatever cloud runs it.

Scope: the ingress-nginx controller (IngressClass `nginx`, its Service a cloud load balancer),
cert-manager (CRDs included) and one ClusterIssuer that gets every Ingress's certificate from
Let's Encrypt through HTTP-01 on the nginx class; with `tenant_issuer`, a second ClusterIssuer for
the tenants' certificate (`*.<domain>` through DNS-01 in the parent zone, the cell's origin
through HTTP-01: `components.aws.acme_dns` says why); and the address of the load balancer, which
the cell programs point the cell's wildcard DNS record at. On clusters with Google Cloud Managed
Service for Prometheus (`pod_monitoring`), the controller's Prometheus metrics (port `metrics`,
10254) are scraped by a `PodMonitoring` in its namespace, so its request counts by status
(`prometheus.googleapis.com/nginx_ingress_controller_requests/counter`) reach Cloud Monitoring:
behind GKE's passthrough load balancer they are the only HTTP status codes there are. Non-goals: the DNS record itself
(it lives in the cell's zone, through the cloud provider), and the metrics server the
autoscalers read: EKS gets it as an EKS add-on (`components.aws.cluster`), GKE runs its own.

The Helm releases have fixed names (no random suffix), so the controller's Service is always
`ingress-nginx/ingress-nginx-controller`, the name the workloads' network policies and this
component's read of the Service rely on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.spec import TenantNames

#: The IngressClass every workload Ingress names.
INGRESS_CLASS = "nginx"
#: Namespace of the ingress controller: the workloads' network policies let only it in from outside.
INGRESS_NAMESPACE = "ingress-nginx"
#: The ClusterIssuer every workload Ingress's `cert-manager.io/cluster-issuer` annotation names.
CLUSTER_ISSUER = "letsencrypt"
CERT_MANAGER_NAMESPACE = "cert-manager"
#: cert-manager's controller's service account, set in the chart's values: cloud identities are bound to it.
CERT_MANAGER_SERVICE_ACCOUNT = "cert-manager"
#: The ClusterIssuer of the tenants' certificate (`*.<domain>` and the cell's origin).
TENANT_ISSUER = "letsencrypt-dns01"

#: Charts, pinned: a chart upgrade is a reviewed change, rolled out wave by wave like any other.
INGRESS_NGINX_CHART = "ingress-nginx"
INGRESS_NGINX_VERSION = "4.13.3"
INGRESS_NGINX_REPO = "https://kubernetes.github.io/ingress-nginx"
CERT_MANAGER_CHART = "cert-manager"
CERT_MANAGER_VERSION = "v1.19.1"
CERT_MANAGER_REPO = "https://charts.jetstack.io"

#: Release name and fullname of the controller chart: its Service is `<name>-controller`.
INGRESS_RELEASE = "ingress-nginx"
CONTROLLER_SERVICE = f"{INGRESS_RELEASE}-controller"
#: The pod annotation that names cert-manager's cloud identity: a change rolls its pods.
IDENTITY_ANNOTATION = "honeycomb.dev/cloud-identity"
#: Let's Encrypt's production directory.
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
#: Seconds Helm waits for a release's objects to be ready (the load balancer's address included).
RELEASE_TIMEOUT = 900
#: The controller pods' container port for Prometheus metrics (the chart's `controller.metrics.port`).
METRICS_PORT_NAME = "metrics"
#: How often the managed collectors scrape the controller.
SCRAPE_INTERVAL = "30s"

#: Pod Security per add-on namespace. The controller binds 80/443 as a non-root user through the
#: NET_BIND_SERVICE capability (its image long needed privilege escalation for that, through a file
#: capability on the nginx binary), which `baseline` admits on any chart version; `restricted` is
#: audited and warned about, so the audit log shows whether the pinned chart would pass it.
#: cert-manager's pods (controller, webhook, cainjector, startup check) run non-root with every
#: capability dropped and the RuntimeDefault seccomp profile: `restricted` admits them. Nothing needs
#: `privileged`. Labelled explicitly because an unlabelled namespace is `privileged` on EKS and GKE.
POD_SECURITY: dict[str, dict[str, str]] = {
    INGRESS_NAMESPACE: {"enforce": "baseline", "audit": "restricted", "warn": "restricted"},
    CERT_MANAGER_NAMESPACE: {"enforce": "restricted", "audit": "restricted", "warn": "restricted"},
}

#: Requests and limits of the add-ons' containers (the chart defaults set requests only, or nothing).
CONTROLLER_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
CERT_MANAGER_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


class TenantIssuerArgs(TypedDict):
    names: TenantNames
    """The names the tenants' certificate holds: `*.<domain>` (DNS-01) and the cell's origin (HTTP-01)."""
    route53: Mapping[str, Any]
    """The Route53 solver's settings: the parent zone, the cell's DNS-01 role, how cert-manager reaches it."""
    token_service_account: NotRequired[str]
    """A service account in cert-manager's namespace whose tokens the solver exchanges for the role (it and
    the RBAC that lets cert-manager request them are created here); unset: ambient credentials."""
    identity_ready: NotRequired[Sequence[pulumi.Resource]]
    """What cert-manager's pods must start after (EKS Pod Identity injects credentials at pod start)."""
    identity: NotRequired[pulumi.Input[str]]
    """What binds cert-manager's pods to their cloud identity (EKS: the Pod Identity association's id), as a pod
    annotation: pods restart when it changes, since credentials are injected at pod start."""


class ClusterAddonsArgs(TypedDict):
    labels: Mapping[str, str]
    """Labels on every object (the cell's `cell`, `environment`, `managed-by`)."""
    controller_replicas: int
    """Ingress controller pods: 2 in prod, so a node drain or a crash never drops the cell's traffic."""
    service_annotations: NotRequired[Mapping[str, str]]
    """Annotations of the controller's LoadBalancer Service: how the cloud builds the load balancer."""
    acme_server: NotRequired[str]
    """ACME directory of the ClusterIssuer; Let's Encrypt production unless set."""
    pod_monitoring: NotRequired[bool]
    """Expose the controller's metrics and scrape them with a managed-Prometheus `PodMonitoring` (GKE)."""
    releases_depend_on: NotRequired[Sequence[pulumi.Resource]]
    """What the Helm releases wait for: the nodes their pods run on (Helm's wait starts with the release)."""
    tenant_issuer: NotRequired[TenantIssuerArgs]
    """The DNS-01 ClusterIssuer of the tenants' certificate; unset: no tenant names on this cluster."""


def ingress_nginx_values(args: ClusterAddonsArgs) -> dict[str, Any]:
    """Values of the ingress-nginx chart."""
    return {
        "fullnameOverride": INGRESS_RELEASE,
        "commonLabels": dict(args["labels"]),
        "controller": {
            "replicaCount": args["controller_replicas"],
            "ingressClass": INGRESS_CLASS,
            "ingressClassResource": {"name": INGRESS_CLASS, "enabled": True, "default": False},
            "resources": CONTROLLER_RESOURCES,
            "service": {"type": "LoadBalancer", "annotations": dict(args.get("service_annotations") or {})},
            # The Ingresses are generated by this project (no snippets to validate), and the admission
            # webhook is the controller's most exposed endpoint; without it, a private GKE control plane
            # also needs no firewall opening to the webhook's port.
            "admissionWebhooks": {"enabled": False},
            # An Ingress reports the load balancer's address, which is what Pulumi waits for.
            "publishService": {"enabled": True},
            # Request counts and latencies by status on port `metrics`; only scraped where pod_monitoring is on.
            "metrics": {"enabled": bool(args.get("pod_monitoring"))},
        },
    }


def pod_monitoring_spec() -> dict[str, Any]:
    """What the managed collectors scrape: the controller pods' `metrics` port (the chart's pod labels)."""
    return {
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": INGRESS_NGINX_CHART,
                "app.kubernetes.io/instance": INGRESS_RELEASE,
                "app.kubernetes.io/component": "controller",
            }
        },
        "endpoints": [{"port": METRICS_PORT_NAME, "interval": SCRAPE_INTERVAL}],
    }


def cert_manager_values(args: ClusterAddonsArgs) -> dict[str, Any]:
    """Values of the cert-manager chart: CRDs installed (and kept on uninstall), limits on every container,
    the controller's service account named explicitly (cloud identities are bound to that name)."""
    values: dict[str, Any] = {
        "crds": {"enabled": True, "keep": True},
        "serviceAccount": {"create": True, "name": CERT_MANAGER_SERVICE_ACCOUNT},
        "global": {
            "commonLabels": dict(args["labels"]),
            # Its own namespace for the leader lease: no rights in kube-system.
            "leaderElection": {"namespace": CERT_MANAGER_NAMESPACE},
        },
        "resources": CERT_MANAGER_RESOURCES,
        "webhook": {"resources": CERT_MANAGER_RESOURCES},
        "cainjector": {"resources": CERT_MANAGER_RESOURCES},
        "startupapicheck": {"resources": CERT_MANAGER_RESOURCES},
    }
    tenant_issuer = args.get("tenant_issuer")
    identity = tenant_issuer.get("identity") if tenant_issuer is not None else None
    if identity is not None:
        values["podAnnotations"] = {IDENTITY_ANNOTATION: identity}
    return values


def cluster_issuer_spec(acme_server: str) -> dict[str, Any]:
    """ACME through HTTP-01: cert-manager answers the challenge with a solver Ingress of the nginx class."""
    return {
        "acme": {
            "server": acme_server,
            "privateKeySecretRef": {"name": f"{CLUSTER_ISSUER}-account-key"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": INGRESS_CLASS}}}],
        }
    }


def tenant_issuer_spec(acme_server: str, names: TenantNames, route53: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's origin through HTTP-01 (a `dnsNames` selector wins over `dnsZones`), every other name of
    the organization's domain through DNS-01 in the parent zone (HTTP-01 cannot prove a wildcard)."""
    return {
        "acme": {
            "server": acme_server,
            "privateKeySecretRef": {"name": f"{TENANT_ISSUER}-account-key"},
            "solvers": [
                {
                    "selector": {"dnsNames": [names.origin]},
                    "http01": {"ingress": {"ingressClassName": INGRESS_CLASS}},
                },
                {"selector": {"dnsZones": [names.domain]}, "dns01": {"route53": dict(route53)}},
            ],
        }
    }


def token_request_rules(service_account: str) -> list[k8s.rbac.v1.PolicyRuleArgsDict]:
    """cert-manager may request tokens for that one service account (cert-manager docs, Route53,
    "IAM Role with dedicated Kubernetes ServiceAccount")."""
    return [
        {
            "api_groups": [""],
            "resources": ["serviceaccounts/token"],
            "resource_names": [service_account],
            "verbs": ["create"],
        }
    ]


def _field(value: Any, *keys: str) -> Any:
    """A field of an output type (attribute) or of a plain dict (snake_case or camelCase key)."""
    for key in keys:
        found = getattr(value, key, None)
        if found is None and isinstance(value, dict):
            found = dict.get(value, key)
        if found is not None:
            return found
    return None


def load_balancer_address(status: Any) -> str:
    """The first address of a Service's load balancer: a hostname (AWS) or an IP (GCP); "" until there is one."""
    balancer = _field(status, "load_balancer", "loadBalancer")
    for entry in _field(balancer, "ingress") or []:
        address = _field(entry, "hostname") or _field(entry, "ip")
        if address:
            return str(address)
    return ""


class ClusterAddons(pulumi.ComponentResource):
    """ingress-nginx, cert-manager and the ClusterIssuer on one cell's cluster, through an explicit provider."""

    ingress_address: pulumi.Output[str]
    """The controller's load balancer: a hostname on AWS, an IP address on GCP."""
    ingress_class: str
    ingress_namespace: str
    cluster_issuer: str
    releases: dict[str, k8s.helm.v3.Release]
    """The Helm releases by chart name."""
    issuer: k8s.apiextensions.CustomResource
    tenant_issuer: str | None
    """The DNS-01 ClusterIssuer's name, when there is one."""

    def __init__(
        self,
        name: str,
        args: ClusterAddonsArgs,
        *,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:k8s:ClusterAddons", name, None, opts)
        self._name = name
        self._provider = provider
        self._labels = dict(args["labels"])
        after_nodes = list(args.get("releases_depend_on") or ())

        ingress_ns = self._namespace("ingress-nginx", INGRESS_NAMESPACE)
        controller = k8s.helm.v3.Release(
            f"{name}-ingress-nginx",
            name=INGRESS_RELEASE,
            chart=INGRESS_NGINX_CHART,
            version=INGRESS_NGINX_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=INGRESS_NGINX_REPO),
            namespace=ingress_ns.metadata.apply(lambda m: str(m.name)),
            values=ingress_nginx_values(args),
            # Helm waits for the Service's load balancer address before the release counts as deployed.
            timeout=RELEASE_TIMEOUT,
            cleanup_on_fail=True,
            opts=self._opts(depends_on=after_nodes),
        )

        cert_ns = self._namespace("cert-manager", CERT_MANAGER_NAMESPACE)
        tenant_issuer = args.get("tenant_issuer")
        identity_ready = list(tenant_issuer.get("identity_ready") or ()) if tenant_issuer is not None else []
        cert_manager = k8s.helm.v3.Release(
            f"{name}-cert-manager",
            name=CERT_MANAGER_CHART,
            chart=CERT_MANAGER_CHART,
            version=CERT_MANAGER_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CERT_MANAGER_REPO),
            namespace=cert_ns.metadata.apply(lambda m: str(m.name)),
            values=cert_manager_values(args),
            timeout=RELEASE_TIMEOUT,
            cleanup_on_fail=True,
            opts=self._opts(depends_on=[*after_nodes, *identity_ready]),
        )
        # The ClusterIssuer's CRD and the webhook that admits it come with the release: it goes after it.
        issuer = k8s.apiextensions.CustomResource(
            f"{name}-cluster-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": CLUSTER_ISSUER, "labels": self._labels},
            spec=cluster_issuer_spec(args.get("acme_server") or LETSENCRYPT),
            opts=self._opts(depends_on=[cert_manager]),
        )

        if tenant_issuer is not None:
            self._create_tenant_issuer(tenant_issuer, args.get("acme_server") or LETSENCRYPT, cert_manager, cert_ns)

        if args.get("pod_monitoring"):
            k8s.apiextensions.CustomResource(
                f"{name}-ingress-nginx-metrics",
                api_version="monitoring.googleapis.com/v1",
                kind="PodMonitoring",
                metadata={"name": CONTROLLER_SERVICE, "namespace": INGRESS_NAMESPACE, "labels": self._labels},
                spec=pod_monitoring_spec(),
                opts=self._opts(depends_on=[controller]),
            )

        # Read the controller's Service once the release is deployed. The id comes from the release's
        # status, so a preview of a new cell (release not installed yet) skips the read instead of failing.
        service = k8s.core.v1.Service.get(
            f"{name}-ingress-nginx-controller",
            pulumi.Output.concat(controller.status.namespace, "/", CONTROLLER_SERVICE),
            opts=self._opts(depends_on=[controller]),
        )

        self.ingress_address = service.status.apply(load_balancer_address)
        self.ingress_class = INGRESS_CLASS
        self.ingress_namespace = INGRESS_NAMESPACE
        self.cluster_issuer = CLUSTER_ISSUER
        self.releases = {"ingress-nginx": controller, "cert-manager": cert_manager}
        self.issuer = issuer
        self.tenant_issuer = TENANT_ISSUER if tenant_issuer is not None else None
        self.register_outputs(
            {
                "ingress_address": self.ingress_address,
                "ingress_class": self.ingress_class,
                "ingress_namespace": self.ingress_namespace,
                "cluster_issuer": self.cluster_issuer,
            }
        )

    def _opts(self, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._provider, **extra)

    def _create_tenant_issuer(
        self,
        args: TenantIssuerArgs,
        acme_server: str,
        cert_manager: k8s.helm.v3.Release,
        namespace: k8s.core.v1.Namespace,
    ) -> None:
        after: list[pulumi.Resource] = [cert_manager]
        account = args.get("token_service_account")
        if account is not None:
            ns = namespace.metadata.apply(lambda m: str(m.name))
            rule_name = f"{account}-tokenrequest"

            def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgsDict:
                return {"name": object_name, "namespace": ns, "labels": self._labels}

            service_account = k8s.core.v1.ServiceAccount(
                f"{self._name}-dns01-service-account",
                metadata=meta(account),
                automount_service_account_token=False,
                opts=self._opts(),
            )
            role = k8s.rbac.v1.Role(
                f"{self._name}-dns01-token-request",
                metadata=meta(rule_name),
                rules=token_request_rules(account),
                opts=self._opts(),
            )
            binding = k8s.rbac.v1.RoleBinding(
                f"{self._name}-dns01-token-request",
                metadata=meta(f"{CERT_MANAGER_SERVICE_ACCOUNT}-{rule_name}"),
                subjects=[
                    {
                        "kind": "ServiceAccount",
                        "name": CERT_MANAGER_SERVICE_ACCOUNT,
                        "namespace": CERT_MANAGER_NAMESPACE,
                    }
                ],
                role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "Role", "name": rule_name},
                opts=self._opts(depends_on=[role]),
            )
            after += [service_account, binding]
        k8s.apiextensions.CustomResource(
            f"{self._name}-tenant-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": TENANT_ISSUER, "labels": self._labels},
            spec=tenant_issuer_spec(acme_server, args["names"], args["route53"]),
            opts=self._opts(depends_on=after),
        )

    def _namespace(self, suffix: str, namespace: str) -> k8s.core.v1.Namespace:
        pod_security = {f"pod-security.kubernetes.io/{mode}": level for mode, level in POD_SECURITY[namespace].items()}
        return k8s.core.v1.Namespace(
            f"{self._name}-{suffix}-namespace",
            metadata={"name": namespace, "labels": {**self._labels, **pod_security}},
            opts=self._opts(),
        )
