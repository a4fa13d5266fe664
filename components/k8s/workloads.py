"""The application's standard workloads on one cell's cluster, whatever cloud runs it.

Scope: per application component, a namespace (Pod Security `restricted`), a hardened
Deployment, a Service, a HorizontalPodAutoscaler, a PodDisruptionBudget, NetworkPolicies
(default deny plus the few allows it needs) and a TLS Ingress on `<component>.<cell zone>`; with
`tenant_names`, the serving component also gets the tenants' Ingress on `*.<domain>` (every tenant
name `<tenant>.<domain>` is a CNAME to that component's host) and its Certificate.
Non-goals: the cluster itself, its ingress controller, certificate issuance and DNS records
for the hosts (the cell programs and `components.k8s.addons` own those; the Ingresses wait for
whatever `ingress_depends_on` names); egress to anything outside
the application and DNS (add an explicit NetworkPolicy where a component needs it).

Kubernetes names are the component's name (namespace `api`, Deployment `api`, ...) so they
are deterministic: no auto-naming suffixes, and two cells run identical objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.spec import CellIdentity, TenantNames, WorkloadSpec, renew_before

#: Pod Security admission: every application namespace enforces, audits and warns at `restricted`.
POD_SECURITY_LEVEL = "restricted"
#: Numeric non-root user and group the containers run as (a numeric id lets the kubelet verify non-root).
RUN_AS_USER = 10001
#: The scheduler spreads a component's pods across zones (and nodes) with this key.
ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"
#: The immutable label the API server puts on every namespace: safe to select namespaces by.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
#: Target average CPU use (percent of requests) before the autoscaler adds pods.
CPU_TARGET_PERCENT = 70
#: Size of the writable /tmp (the root filesystem is read-only).
TMP_SIZE_LIMIT = "128Mi"
#: The tenants' Certificate (in the serving component's namespace) and the Secret it fills.
TENANT_CERTIFICATE = "tenants"
TENANT_TLS_SECRET = "tenants-tls"  # noqa: S105 - a Secret's name
#: cert-manager's HTTP-01 solver pods (in the namespace of the Ingress they answer for): label and port.
ACME_SOLVER_LABEL = "acme.cert-manager.io/http01-solver"
ACME_SOLVER_PORT = 8089


class WorkloadsArgs(TypedDict):
    components: Sequence[WorkloadSpec]
    """The application components this cell runs, already resolved for its size and overrides."""
    cell: CellIdentity
    """Name, region, DNS zone and environment of the cell, given to the pods as environment variables."""
    labels: Mapping[str, str]
    """Labels on every object (the cell's `cell`, `environment`, `managed-by`)."""
    ingress_class: str
    """IngressClass of the cluster's ingress controller."""
    ingress_namespace: str
    """Namespace of the ingress controller: the only source of traffic from outside the application."""
    cluster_issuer: NotRequired[str | None]
    """cert-manager ClusterIssuer that fills each Ingress's TLS secret; unset: the secret is provisioned elsewhere."""
    tenant_names: NotRequired[TenantNames | None]
    """The tenants' names the cell serves on its serving component (any tenant of the organization, so a
    move needs no change here); unset: none."""
    tenant_issuer: NotRequired[str | None]
    """The ClusterIssuer of the tenants' certificate (DNS-01 for the wildcard); required with `tenant_names`."""
    ingress_depends_on: NotRequired[Sequence[pulumi.Resource]]
    """What every Ingress waits for (the ingress controller and the issuer): Pulumi waits for an Ingress to get an
    address, which only a running controller gives it."""


class Workloads(pulumi.ComponentResource):
    """Every application component on one cell's cluster, through an explicit Kubernetes provider."""

    namespaces: pulumi.Output[dict[str, str]]
    """Namespace of each component, by component name."""
    hosts: pulumi.Output[dict[str, str]]
    """Public host name of each component, by component name."""

    def __init__(
        self,
        name: str,
        args: WorkloadsArgs,
        *,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:k8s:Workloads", name, None, opts)
        self._name = name
        self._provider = provider
        self._args = args
        names = [c.name for c in args["components"]]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"application components must have unique names; repeated: {', '.join(duplicates)}")
        self._application_namespaces = names
        tenants = args.get("tenant_names")
        if tenants is not None and (tenants.component not in names or not args.get("tenant_issuer")):
            raise ValueError(
                f"the tenants' names are served by component {tenants.component!r}, which needs to be one of the "
                f"cell's components ({', '.join(names)}) and a `tenant_issuer` for their certificate"
            )

        namespaces: dict[str, pulumi.Output[str]] = {}
        for component in args["components"]:
            namespaces[component.name] = self._create_component(component)

        self.namespaces = pulumi.Output.all(**namespaces) if namespaces else pulumi.Output.from_input({})
        self.hosts = pulumi.Output.from_input({c.name: args["cell"].host(c.name) for c in args["components"]})
        self.register_outputs({"namespaces": self.namespaces, "hosts": self.hosts})

    # --- helpers ----------------------------------------------------------------------------

    def _opts(self, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._provider, **extra)

    def _labels(self, component: WorkloadSpec) -> dict[str, str]:
        return {**self._args["labels"], "app.kubernetes.io/name": component.name}

    @staticmethod
    def _selector(component: WorkloadSpec) -> dict[str, str]:
        # Selectors are immutable: only the component's name, never a label that may change.
        return {"app.kubernetes.io/name": component.name}

    def _meta(
        self, component: WorkloadSpec, namespace: pulumi.Input[str], name: str | None = None
    ) -> k8s.meta.v1.ObjectMetaArgsDict:
        return {"name": name or component.name, "namespace": namespace, "labels": self._labels(component)}

    def _pods(self, component: WorkloadSpec) -> k8s.meta.v1.LabelSelectorArgsDict:
        return {"match_labels": self._selector(component)}

    # --- one application component ---------------------------------------------------------

    def _create_component(self, component: WorkloadSpec) -> pulumi.Output[str]:
        prefix = f"{self._name}-{component.name}"
        namespace = self._create_namespace(prefix, component)
        # Reading the name from the Namespace's outputs orders every object after it.
        ns: pulumi.Output[str] = namespace.metadata.apply(lambda m: str(m.name))
        self._create_deployment(prefix, component, ns)
        self._create_service(prefix, component, ns)
        self._create_autoscaler(prefix, component, ns)
        self._create_disruption_budget(prefix, component, ns)
        self._create_network_policies(prefix, component, ns)
        tenants = self._args.get("tenant_names")
        serves_tenants = tenants is not None and tenants.component == component.name
        self._create_ingress(prefix, component, ns, serves_tenants=serves_tenants)
        if tenants is not None and serves_tenants:
            self._create_tenant_ingress(prefix, component, ns, tenants)
        return ns

    def _create_namespace(self, prefix: str, component: WorkloadSpec) -> k8s.core.v1.Namespace:
        pod_security = {
            f"pod-security.kubernetes.io/{mode}": POD_SECURITY_LEVEL for mode in ("enforce", "audit", "warn")
        }
        return k8s.core.v1.Namespace(
            f"{prefix}-namespace",
            metadata={"name": component.name, "labels": {**self._labels(component), **pod_security}},
            opts=self._opts(),
        )

    def _create_deployment(self, prefix: str, component: WorkloadSpec, ns: pulumi.Output[str]) -> None:
        cell = self._args["cell"]
        resources = {"cpu": component.resources.cpu, "memory": component.resources.memory}
        probe: k8s.core.v1.HTTPGetActionArgsDict = {"path": component.health_path, "port": "http"}
        spread: list[k8s.core.v1.TopologySpreadConstraintArgsDict] = [
            {
                "max_skew": 1,
                "topology_key": key,
                # Prefer spreading, but never leave pods pending because a zone (or node) is gone.
                "when_unsatisfiable": "ScheduleAnyway",
                "label_selector": self._pods(component),
            }
            for key in (ZONE_KEY, HOST_KEY)
        ]
        container: k8s.core.v1.ContainerArgsDict = {
            "name": component.name,
            "image": component.image,
            "ports": [{"name": "http", "container_port": component.port, "protocol": "TCP"}],
            "env": [
                {"name": "CELL_NAME", "value": cell.name},
                {"name": "CELL_REGION", "value": cell.region},
                {"name": "CELL_DOMAIN", "value": cell.domain},
                {"name": "CELL_ENVIRONMENT", "value": cell.environment},
            ],
            "resources": {"requests": resources, "limits": dict(resources)},
            "readiness_probe": {
                "http_get": probe,
                "initial_delay_seconds": 5,
                "period_seconds": 10,
                "failure_threshold": 3,
            },
            "liveness_probe": {
                "http_get": probe,
                "initial_delay_seconds": 15,
                "period_seconds": 20,
                "failure_threshold": 3,
            },
            "security_context": {
                "privileged": False,
                "allow_privilege_escalation": False,
                "read_only_root_filesystem": True,
                "run_as_non_root": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],  # noqa: S108 - a pod-private emptyDir
        }
        spec: k8s.apps.v1.DeploymentSpecArgsDict = {
            "replicas": component.replicas,
            "selector": self._pods(component),
            # Add a new pod before taking an old one away: a rollout never lowers capacity.
            "strategy": {"type": "RollingUpdate", "rolling_update": {"max_surge": 1, "max_unavailable": 0}},
            "template": {
                "metadata": {"labels": self._labels(component)},
                "spec": {
                    "automount_service_account_token": False,
                    "security_context": {
                        "run_as_non_root": True,
                        "run_as_user": RUN_AS_USER,
                        "run_as_group": RUN_AS_USER,
                        "fs_group": RUN_AS_USER,
                        "seccomp_profile": {"type": "RuntimeDefault"},
                    },
                    "topology_spread_constraints": spread,
                    "containers": [container],
                    "volumes": [{"name": "tmp", "empty_dir": {"size_limit": TMP_SIZE_LIMIT}}],
                },
            },
        }
        k8s.apps.v1.Deployment(
            f"{prefix}-deployment",
            metadata=self._meta(component, ns),
            spec=spec,
            # The autoscaler owns the live replica count; `replicas` sets the first rollout's size and
            # the HPA's minimum carries later changes (an override), so an update never undoes a scale-out.
            opts=self._opts(ignore_changes=["spec.replicas"]),
        )

    def _create_service(self, prefix: str, component: WorkloadSpec, ns: pulumi.Output[str]) -> None:
        spec: k8s.core.v1.ServiceSpecArgsDict = {
            "type": "ClusterIP",
            "selector": self._selector(component),
            "ports": [{"name": "http", "port": component.port, "target_port": "http", "protocol": "TCP"}],
        }
        k8s.core.v1.Service(f"{prefix}-service", metadata=self._meta(component, ns), spec=spec, opts=self._opts())

    def _create_autoscaler(self, prefix: str, component: WorkloadSpec, ns: pulumi.Output[str]) -> None:
        spec: k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgsDict = {
            "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": component.name},
            "min_replicas": component.replicas,
            "max_replicas": component.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "average_utilization": CPU_TARGET_PERCENT},
                    },
                }
            ],
        }
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{prefix}-hpa", metadata=self._meta(component, ns), spec=spec, opts=self._opts()
        )

    def _create_disruption_budget(self, prefix: str, component: WorkloadSpec, ns: pulumi.Output[str]) -> None:
        # maxUnavailable (not minAvailable) so a single-replica component never blocks a node drain.
        spec: k8s.policy.v1.PodDisruptionBudgetSpecArgsDict = {"max_unavailable": 1, "selector": self._pods(component)}
        k8s.policy.v1.PodDisruptionBudget(
            f"{prefix}-pdb", metadata=self._meta(component, ns), spec=spec, opts=self._opts()
        )

    def _create_network_policies(self, prefix: str, component: WorkloadSpec, ns: pulumi.Output[str]) -> None:
        """Default deny both ways, then: the ingress controller and the application's own namespaces may reach
        the component's port; the component may resolve names (kube-dns) and reach the other components' ports; with
        an issuer, the ingress controller may reach cert-manager's HTTP-01 solver pods. Kubelet probes come from the
        node and are not subject to these policies."""
        pods = self._pods(component)
        port: list[k8s.networking.v1.NetworkPolicyPortArgsDict] = [{"protocol": "TCP", "port": component.port}]
        application: k8s.meta.v1.LabelSelectorArgsDict = {
            "match_expressions": [
                {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": self._application_namespaces}
            ]
        }
        others = [c for c in self._args["components"] if c.name != component.name]
        policies: dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict] = {
            "default-deny": {"pod_selector": {}, "policy_types": ["Ingress", "Egress"]},
            "allow-ingress-controller": {
                "pod_selector": pods,
                "policy_types": ["Ingress"],
                "ingress": [
                    {
                        "from_": [
                            {
                                "namespace_selector": {
                                    "match_labels": {NAMESPACE_NAME_LABEL: self._args["ingress_namespace"]}
                                }
                            }
                        ],
                        "ports": port,
                    }
                ],
            },
            "allow-application": {
                "pod_selector": pods,
                "policy_types": ["Ingress"],
                "ingress": [{"from_": [{"namespace_selector": application}], "ports": port}],
            },
            "allow-dns": {
                "pod_selector": pods,
                "policy_types": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespace_selector": {"match_labels": {NAMESPACE_NAME_LABEL: "kube-system"}},
                                "pod_selector": {"match_labels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        }
        if self._args.get("cluster_issuer"):
            # cert-manager answers the HTTP-01 challenge of the component's host from a solver pod in this
            # namespace; the challenge reaches it through the ingress controller.
            policies["allow-acme-solver"] = {
                "pod_selector": {"match_labels": {ACME_SOLVER_LABEL: "true"}},
                "policy_types": ["Ingress"],
                "ingress": [
                    {
                        "from_": [
                            {
                                "namespace_selector": {
                                    "match_labels": {NAMESPACE_NAME_LABEL: self._args["ingress_namespace"]}
                                }
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": ACME_SOLVER_PORT}],
                    }
                ],
            }
        if others:
            policies["allow-egress-application"] = {
                "pod_selector": pods,
                "policy_types": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespace_selector": {"match_labels": {NAMESPACE_NAME_LABEL: other.name}},
                                "pod_selector": self._pods(other),
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": other.port}],
                    }
                    for other in others
                ],
            }
        for policy_name, spec in policies.items():
            k8s.networking.v1.NetworkPolicy(
                f"{prefix}-{policy_name}",
                metadata=self._meta(component, ns, policy_name),
                spec=spec,
                opts=self._opts(),
            )

    def _create_ingress(
        self, prefix: str, component: WorkloadSpec, ns: pulumi.Output[str], *, serves_tenants: bool = False
    ) -> None:
        """The component's own host. The serving component's comes from the tenants' certificate, which names
        it already: an ingress-shim certificate of its own would cost one more of Let's Encrypt's 50 new
        certificates per registered domain a week, for every cell."""
        issuer = self._args.get("cluster_issuer")
        metadata = self._meta(component, ns)
        if issuer and not serves_tenants:
            metadata["annotations"] = {"cert-manager.io/cluster-issuer": issuer}
        secret = TENANT_TLS_SECRET if serves_tenants else tls_secret_name(component.name)
        spec = self._ingress_spec(component, self._args["cell"].host(component.name), secret)
        k8s.networking.v1.Ingress(f"{prefix}-ingress", metadata=metadata, spec=spec, opts=self._after_addons())

    def _create_tenant_ingress(
        self, prefix: str, component: WorkloadSpec, ns: pulumi.Output[str], tenants: TenantNames
    ) -> None:
        """A second Ingress of the serving component, for `*.<domain>`, whose Certificate is explicit: the
        ingress-shim (the other Ingress's annotation) would name only the Ingress's hosts, and a set of names
        shared by every cell would meet Let's Encrypt's duplicate-certificate limit at the sixth cell."""
        k8s.apiextensions.CustomResource(
            f"{prefix}-tenants-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=self._meta(component, ns, TENANT_CERTIFICATE),
            spec={
                "secretName": TENANT_TLS_SECRET,
                "dnsNames": tenants.certificate_names(),
                "renewBefore": renew_before(self._args["cell"].name),
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": self._args["tenant_issuer"]},
            },
            opts=self._after_addons(),
        )
        k8s.networking.v1.Ingress(
            f"{prefix}-tenants-ingress",
            metadata=self._meta(component, ns, f"{component.name}-{TENANT_CERTIFICATE}"),
            spec=self._ingress_spec(component, tenants.wildcard, TENANT_TLS_SECRET),
            opts=self._after_addons(),
        )

    def _ingress_spec(self, component: WorkloadSpec, host: str, secret: str) -> k8s.networking.v1.IngressSpecArgsDict:
        return {
            "ingress_class_name": self._args["ingress_class"],
            "tls": [{"hosts": [host], "secret_name": secret}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "path_type": "Prefix",
                                "backend": {"service": {"name": component.name, "port": {"number": component.port}}},
                            }
                        ]
                    },
                }
            ],
        }

    def _after_addons(self) -> pulumi.ResourceOptions:
        return self._opts(depends_on=list(self._args.get("ingress_depends_on") or []))


def tls_secret_name(component: str) -> str:
    """The Secret (in the component's namespace) holding the certificate of its host."""
    return f"{component}-tls"
