"""Cluster add-ons (ingress-nginx, cert-manager, the ClusterIssuer), the wildcard record and EKS's metrics server."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from cellctl.mocks import CloudMocks
from cellctl.offline import PlannedResource, StackPlan, run_program, run_stack
from cells import Registry
from components.k8s import addons
from components.k8s.addons import load_balancer_address
from components.k8s.spec import CellIdentity, ComputeResources, WorkloadSpec

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
K8S_PROVIDER = "pulumi:providers:kubernetes"
ADDONS = "honeycomb:k8s:ClusterAddons"
WORKLOADS = "honeycomb:k8s:Workloads"
AWS_RECORD = "aws:route53/record:Record"
AWS_ZONE = "aws:route53/zone:Zone"
GCP_RECORD = "gcp:dns/recordSet:RecordSet"
GCP_ZONE = "gcp:dns/managedZone:ManagedZone"
EKS_ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
PINNED = re.compile(r"^v?\d+\.\d+\.\d+$")

#: An AWS cell (prod), the GCP cell (prod) and a non-prod AWS cell.
CELLS = ["alpha", "beta", "staging"]


@pytest.fixture(scope="module")
def plans(registry: Registry) -> dict[str, StackPlan]:
    return {name: run_stack(f"cell-{name}", registry) for name in CELLS}


def release(plan: StackPlan, chart: str) -> PlannedResource:
    (found,) = [r for r in plan.of_type(RELEASE) if r.inputs["chart"] == chart]
    return found


def addon_namespace(plan: StackPlan, name: str) -> PlannedResource:
    (found,) = [r for r in plan.of_type(NAMESPACE) if r.inputs["metadata"]["name"] == name]
    return found


def workload_objects(plan: StackPlan, type_: str) -> list[PlannedResource]:
    return [r for r in plan.of_type(type_) if f"{WORKLOADS}$" in r.urn]


# --- pure helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "address"),
    [
        (
            {"load_balancer": {"ingress": [{"hostname": "a1.elb.us-east-1.amazonaws.com"}]}},
            "a1.elb.us-east-1.amazonaws.com",
        ),
        ({"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}, "203.0.113.7"),
        ({"load_balancer": {"ingress": [{"hostname": None, "ip": "203.0.113.8"}]}}, "203.0.113.8"),
        ({"load_balancer": {"ingress": []}}, ""),
        ({"load_balancer": {}}, ""),
        (None, ""),
    ],
    ids=["hostname", "ip-camel", "ip-after-empty-hostname", "no-ingress", "no-balancer", "no-status"],
)
def test_load_balancer_address(status: Any, address: str) -> None:
    assert load_balancer_address(status) == address


def test_charts_are_pinned_to_exact_versions() -> None:
    assert PINNED.match(addons.INGRESS_NGINX_VERSION)
    assert PINNED.match(addons.CERT_MANAGER_VERSION)


# --- the add-ons in every kind of cell ------------------------------------------------------------


@pytest.mark.parametrize("name", CELLS)
class TestAddons:
    def test_releases_pinned_in_their_namespaces_through_the_cell_provider(self, plans, name):
        plan = plans[name]
        urns = [r.urn for r in plan.resources]
        assert len(urns) == len(set(urns))
        provider = plan.one(K8S_PROVIDER, f"{name}-k8s")
        component = plan.one(ADDONS, f"{name}-addons")
        expected = {
            "ingress-nginx": ("ingress-nginx", addons.INGRESS_NGINX_VERSION, addons.INGRESS_NGINX_REPO),
            "cert-manager": ("cert-manager", addons.CERT_MANAGER_VERSION, addons.CERT_MANAGER_REPO),
        }
        # The add-ons every cell gets; an AWS cell's program adds the cluster autoscaler beside them.
        assert sorted(r.inputs["chart"] for r in plan.of_type(RELEASE) if r.parent == component.urn) == sorted(expected)
        for chart, (namespace, version, repo) in expected.items():
            found = release(plan, chart)
            assert found.name == f"{name}-addons-{chart}"
            assert found.inputs["version"] == version and PINNED.match(version)
            assert found.inputs["repositoryOpts"] == {"repo": repo}
            assert found.inputs["namespace"] == namespace
            # A fixed release name: no random suffix, so the controller's Service name is known.
            assert found.inputs["name"] == chart
            assert (found.provider, found.parent) == (provider.urn, component.urn)
            assert found.outputs["status"]["status"] == "deployed"
            # The release goes into the namespace this component creates (a dependency, not just a name).
            assert addon_namespace(plan, namespace).urn in found.depends_on
        for r in plan.resources:
            if r.parent == component.urn:
                assert r.provider == provider.urn, r.urn
                assert r.name.startswith(f"{name}-addons-"), r.name

    def test_namespaces_are_labelled_and_set_pod_security_explicitly(self, plans, registry, name):
        tags = registry.cell(name).tags
        expected = {"ingress-nginx": "baseline", "cert-manager": "restricted"}
        for namespace, level in expected.items():
            labels = addon_namespace(plans[name], namespace).inputs["metadata"]["labels"]
            assert tags.items() <= labels.items()
            assert labels["pod-security.kubernetes.io/enforce"] == level
            assert labels["pod-security.kubernetes.io/audit"] == "restricted"
            assert labels["pod-security.kubernetes.io/warn"] == "restricted"

    def test_ingress_controller_values(self, plans, registry, name):
        cell = registry.cell(name)
        values = release(plans[name], "ingress-nginx").inputs["values"]
        controller = values["controller"]
        assert values["fullnameOverride"] == "ingress-nginx"
        assert values["commonLabels"] == cell.tags
        assert controller["replicaCount"] == (2 if str(cell.environment) == "prod" else 1)
        assert controller["service"]["type"] == "LoadBalancer"
        assert controller["ingressClassResource"]["name"] == "nginx"
        assert controller["admissionWebhooks"] == {"enabled": False}
        for kind in ("requests", "limits"):
            assert set(controller["resources"][kind]) == {"cpu", "memory"}
        annotations = controller["service"]["annotations"]
        if cell.cloud == "aws":
            assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
            tags = annotations["service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags"]
            assert dict(pair.split("=", 1) for pair in tags.split(",")) == cell.tags
        else:
            assert annotations == {}

    def test_the_controllers_metrics_are_scraped_where_managed_prometheus_runs(self, plans, registry, name):
        plan, cell = plans[name], registry.cell(name)
        controller = release(plan, "ingress-nginx")
        monitors = plan.of_type(POD_MONITORING)
        if cell.cloud == "gcp":
            assert controller.inputs["values"]["controller"]["metrics"] == {"enabled": True}
            [monitor] = monitors
            assert monitor.inputs["apiVersion"] == "monitoring.googleapis.com/v1"
            assert monitor.inputs["metadata"]["namespace"] == addons.INGRESS_NAMESPACE
            # The chart's controller pods and their `metrics` container port (10254).
            assert monitor.inputs["spec"]["selector"]["matchLabels"] == {
                "app.kubernetes.io/name": "ingress-nginx",
                "app.kubernetes.io/instance": addons.INGRESS_RELEASE,
                "app.kubernetes.io/component": "controller",
            }
            assert monitor.inputs["spec"]["endpoints"] == [{"port": "metrics", "interval": "30s"}]
            assert controller.urn in monitor.depends_on
            cluster = plan.one("gcp:container/cluster:Cluster").inputs
            assert cluster["monitoringConfig"]["managedPrometheus"] == {"enabled": True}
        else:
            # EKS has no PodMonitoring CRD: nothing to scrape with there.
            assert monitors == []
            assert controller.inputs["values"]["controller"]["metrics"] == {"enabled": False}

    def test_cert_manager_installs_its_crds_with_limits(self, plans, name):
        values = release(plans[name], "cert-manager").inputs["values"]
        assert values["crds"] == {"enabled": True, "keep": True}
        for part in (values, values["webhook"], values["cainjector"], values["startupapicheck"]):
            assert set(part["resources"]["limits"]) == {"cpu", "memory"}

    def test_cluster_issuer_is_the_one_the_ingresses_name(self, plans, name):
        plan = plans[name]
        issuer = plan.one(ISSUER, f"{name}-addons-cluster-issuer")
        assert issuer.inputs["apiVersion"] == "cert-manager.io/v1"
        assert issuer.inputs["metadata"]["name"] == addons.CLUSTER_ISSUER
        assert "namespace" not in issuer.outputs["metadata"]
        (solver,) = issuer.inputs["spec"]["acme"]["solvers"]
        assert solver == {"http01": {"ingress": {"ingressClassName": addons.INGRESS_CLASS}}}
        assert issuer.inputs["spec"]["acme"]["server"] == addons.LETSENCRYPT
        # The CRD and the webhook that admits a ClusterIssuer come with the cert-manager release.
        assert release(plan, "cert-manager").urn in issuer.depends_on
        # The serving component's Ingresses use the tenants' explicit certificate instead (tests/test_tenant_names.py).
        ingresses = [r for r in workload_objects(plan, INGRESS) if r.inputs["metadata"]["namespace"] != "web"]
        assert len(ingresses) == 2
        for ingress in ingresses:
            annotation = ingress.inputs["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
            assert annotation == issuer.inputs["metadata"]["name"]
            assert ingress.inputs["spec"]["ingressClassName"] == solver["http01"]["ingress"]["ingressClassName"]

    def test_every_ingress_waits_for_the_addons(self, plans, name):
        plan = plans[name]
        by_urn = plan.by_urn()
        needed = {release(plan, "ingress-nginx").urn, plan.one(ISSUER, f"{name}-addons-cluster-issuer").urn}
        needed.add(plan.one(ISSUER, f"{name}-addons-tenant-issuer").urn)

        def reachable(urn: str) -> set[str]:
            seen: set[str] = set()
            todo = [urn]
            while todo:
                for dep in by_urn[todo.pop()].depends_on:
                    if dep not in seen and dep in by_urn:
                        seen.add(dep)
                        todo.append(dep)
            return seen

        for ingress in workload_objects(plan, INGRESS):
            assert needed <= set(ingress.depends_on), ingress.urn
            assert needed <= reachable(ingress.urn)
        # The workloads component as a whole is ordered after the add-ons too (a component's dependency is
        # recorded as its children's).
        assert needed <= set(plan.one(WORKLOADS).depends_on)

    def test_solver_pods_are_reachable_from_the_ingress_controller(self, plans, registry, name):
        for component in registry.organization.components:
            (policy,) = [
                r
                for r in workload_objects(plans[name], NETPOL)
                if r.inputs["metadata"]["namespace"] == component.name
                and r.inputs["metadata"]["name"] == "allow-acme-solver"
            ]
            assert policy.inputs["spec"] == {
                "podSelector": {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
                        ],
                        "ports": [{"protocol": "TCP", "port": 8089}],
                    }
                ],
            }

    def test_no_guardrail_fires_on_the_addons_or_the_record(self, plans, registry, name):
        from policies.evaluate import evaluate
        from policies.workloads import POD_SPECS

        plan = plans[name]
        ours = {r.urn for r in plan.resources if f"{ADDONS}$" in r.urn or "IngressDns$" in r.urn}
        assert len(ours) >= 6
        findings = evaluate(plan.resources, registry=registry)
        assert [f for f in findings if f.urn in ours] == []
        assert [f for f in findings if f.level == "mandatory"] == []
        # A Helm release is not a pod spec: the workload rule does not read chart values.
        assert RELEASE not in POD_SPECS


# --- the wildcard record --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alpha", "staging"])
def test_aws_wildcard_cname_in_the_cell_zone(plans, registry, name):
    plan = plans[name]
    cell = registry.cell(name)
    zone = plan.one(AWS_ZONE)
    record = plan.one(AWS_RECORD, f"{name}-ingress-wildcard")
    address = plan.outputs["ingressAddress"]
    assert re.fullmatch(rf"a[0-9a-f]{{31}}-[0-9a-f]{{16}}\.elb\.{cell.region}\.amazonaws\.com", address)
    assert record.inputs["zoneId"] == zone.outputs["zoneId"]
    assert record.inputs["name"] == f"*.{registry.zone_name(cell)}" == f"*.{name}.cells.acme-corp.net"
    assert (record.inputs["type"], record.inputs["ttl"], record.inputs["records"]) == ("CNAME", 300, [address])
    assert record.provider == plan.one("pulumi:providers:aws", f"{name}-aws").urn
    assert record.parent == plan.one("honeycomb:aws:IngressDns", name).urn
    # The address the record names is the one the controller publishes on every Ingress.
    for ingress in workload_objects(plan, INGRESS):
        assert ingress.outputs["status"]["loadBalancer"]["ingress"] == [{"hostname": address}]
    assert plan.outputs["ingressRecord"] == record.inputs["name"]


def test_gcp_wildcard_a_record_in_the_cell_zone(plans, registry):
    plan = plans["beta"]
    cell = registry.cell("beta")
    zone = plan.one(GCP_ZONE)
    record = plan.one(GCP_RECORD, "beta-ingress-wildcard")
    address = plan.outputs["ingressAddress"]
    assert isinstance(ipaddress.ip_address(address), ipaddress.IPv4Address)
    assert record.inputs["managedZone"] == zone.outputs["name"]
    assert record.inputs["name"] == f"*.{registry.zone_name(cell)}." == zone.inputs["dnsName"].replace("beta", "*.beta")
    assert (record.inputs["type"], record.inputs["ttl"], record.inputs["rrdatas"]) == ("A", 300, [address])
    assert record.inputs["project"] == cell.project_id
    assert record.provider == plan.one("pulumi:providers:gcp", "beta-gcp").urn
    for ingress in workload_objects(plan, INGRESS):
        assert ingress.outputs["status"]["loadBalancer"]["ingress"] == [{"ip": address}]


# --- metrics server -------------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "nodes"), [("alpha", NODE_GROUP), ("beta", "gcp:container/nodePool:NodePool")])
def test_the_add_on_releases_wait_for_the_nodes(plans: dict[str, StackPlan], cell: str, nodes: str) -> None:
    """Helm waits for the pods (and the load balancer) from the release's start: on a first `up` the
    release must not start before the node group or pool its pods run on exists."""
    plan = plans[cell]
    pool = plan.one(nodes).urn
    for name in ("ingress-nginx", "cert-manager"):
        assert pool in plan.one(RELEASE, f"{cell}-addons-{name}").depends_on, name


def test_metrics_server_is_an_eks_addon_on_aws_only(plans):
    alpha = plans["alpha"]
    addon = alpha.one(EKS_ADDON, "alpha-metrics-server")
    assert addon.inputs["addonName"] == "metrics-server"
    assert addon.inputs["clusterName"] == alpha.outputs["clusterName"]
    assert addon.provider == alpha.one("pulumi:providers:aws", "alpha-aws").urn
    assert alpha.one(NODE_GROUP).urn in addon.depends_on
    # GKE runs its own metrics server: nothing installs one on the GCP cell.
    beta = plans["beta"]
    assert beta.of_type(EKS_ADDON) == []
    assert not [r for r in beta.resources if "metrics-server" in r.name]


# --- deploy and the mocks -------------------------------------------------------------------------


def test_deploy_returns_the_ingress_address(registry):
    from stacks.workloads import deploy

    cell = registry.cell("alpha")
    seen: dict[str, Any] = {}

    def program() -> None:
        application = deploy(registry, cell, "kubeconfig")
        application.ingress_address.apply(lambda a: seen.update(address=a))
        application.hosts.apply(lambda h: seen.update(hosts=h))

    run_program(program, stack=cell.stack_name, mocks=CloudMocks(registry))
    # A kubeconfig that names no cloud: the mock goes by the stack's cell (AWS: a load balancer's hostname).
    assert seen["address"].endswith(".elb.us-east-1.amazonaws.com")
    assert seen["hosts"]["api"] == "api.alpha.cells.acme-corp.net"


def test_workloads_without_an_issuer_open_no_solver_port(registry):
    import pulumi_kubernetes as k8s

    from components.k8s.workloads import Workloads

    spec = WorkloadSpec("api", "ghcr.io/acme/api:1.0", 8080, 2, ComputeResources("250m", "256Mi"), "/healthz")

    def program() -> None:
        Workloads(
            "alpha-workloads",
            {
                "components": [spec],
                "cell": CellIdentity("alpha", "us-east-1", "alpha.example.com", "prod"),
                "labels": {},
                "ingress_class": "nginx",
                "ingress_namespace": "ingress-nginx",
            },
            provider=k8s.Provider("alpha-k8s", kubeconfig="kubeconfig"),
        )

    plan = run_program(program, stack="cell-alpha", mocks=CloudMocks(registry))
    names = {r.inputs["metadata"]["name"] for r in plan.of_type(NETPOL)}
    assert names == {"default-deny", "allow-ingress-controller", "allow-application", "allow-dns"}
    (ingress,) = plan.of_type(INGRESS)
    assert "annotations" not in ingress.inputs["metadata"]
