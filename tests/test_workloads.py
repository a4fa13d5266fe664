"""The application's standard workloads: the same objects in every cell, sized and overridden per cell."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cellctl.mocks import CloudMocks
from cellctl.offline import PlannedResource, StackPlan, run_program, run_stack
from cells import Registry, load_registry
from cells.loader import DEFAULT_REGISTRY, RegistryError
from cells.models import AppComponent, ComponentOverride, Size
from components.k8s.spec import (
    HPA_MAX_FACTOR,
    CellIdentity,
    ComputeResources,
    WorkloadSpec,
    cell_workloads,
    resolve_component,
    with_tag,
)

NAMESPACE = "kubernetes:core/v1:Namespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NAMESPACED = (DEPLOYMENT, SERVICE, HPA, PDB, NETPOL, INGRESS)
PROVIDER = "pulumi:providers:kubernetes"
COMPONENT = "honeycomb:k8s:Workloads"

#: An AWS cell and the GCP cell (plus staging, which carries the sample's api override).
CELLS = ["alpha", "beta", "staging"]


def workloads_plan(registry: Registry, name: str) -> StackPlan:
    """The cell's whole stack, as its cloud's cell program builds it (AWS or GCP)."""
    return run_stack(f"cell-{name}", registry)


def deploy_only(registry: Registry, name: str, kubeconfig: str = "kubeconfig") -> StackPlan:
    """`stacks.workloads.deploy` alone, outside any cell program (with tenant names, as the cell programs)."""
    from stacks.workloads import TenantCertificates, deploy

    cell = registry.cell(name)
    tenants = TenantCertificates(route53={})
    return run_program(
        lambda: deploy(registry, cell, kubeconfig, tenants=tenants), stack=cell.stack_name, mocks=CloudMocks(registry)
    )


def unsecret(value: Any) -> Any:
    """A recorded input's plain value (secrets are recorded wrapped, with their value under "value")."""
    return value["value"] if isinstance(value, dict) and "value" in value else value


@pytest.fixture(scope="module")
def plans(registry: Registry) -> dict[str, StackPlan]:
    return {name: workloads_plan(registry, name) for name in CELLS}


def k8s_objects(plan: StackPlan) -> list[PlannedResource]:
    """The Kubernetes objects of the workloads component (the cell program may add cluster add-ons beside them)."""
    return [r for r in plan.resources if r.type.startswith("kubernetes:") and f"{COMPONENT}$" in r.urn]


def in_namespace(plan: StackPlan, type_: str, namespace: str) -> list[PlannedResource]:
    return [r for r in plan.of_type(type_) if r.inputs["metadata"]["namespace"] == namespace]


def deployment(plan: StackPlan, component: str) -> dict[str, Any]:
    (found,) = in_namespace(plan, DEPLOYMENT, component)
    return found.inputs


def container(plan: StackPlan, component: str) -> dict[str, Any]:
    (only,) = deployment(plan, component)["spec"]["template"]["spec"]["containers"]
    return only


# --- pure helpers ---------------------------------------------------------------------------


class TestWithTag:
    @pytest.mark.parametrize(
        ("image", "expected"),
        [
            ("ghcr.io/acme/api:1.42.0", "ghcr.io/acme/api:2.0.0"),
            ("ghcr.io/acme/api@sha256:" + "a" * 64, "ghcr.io/acme/api:2.0.0"),
            ("ghcr.io/acme/api:1.42.0@sha256:" + "b" * 64, "ghcr.io/acme/api:2.0.0"),
            ("registry.internal:5000/acme/api:1.0", "registry.internal:5000/acme/api:2.0.0"),
            ("registry.internal:5000/acme/api", "registry.internal:5000/acme/api:2.0.0"),
            ("api:1.0", "api:2.0.0"),
        ],
    )
    def test_replaces_tag_or_digest(self, image, expected):
        assert with_tag(image, "2.0.0") == expected

    @given(
        host=st.sampled_from(["ghcr.io", "registry.internal:5000", "123456789012.dkr.ecr.us-east-1.amazonaws.com"]),
        path=st.lists(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=3),
        old=st.one_of(
            st.none(),
            st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True).map(lambda t: f":{t}"),
            st.from_regex(r"[0-9a-f]{64}", fullmatch=True).map(lambda d: f"@sha256:{d}"),
        ),
        tag=st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}", fullmatch=True).filter(lambda t: t != "latest"),
    )
    def test_keeps_the_repository_and_pins_the_new_tag(self, host, path, old, tag):
        repository = f"{host}/{'/'.join(path)}"
        result = with_tag(repository + (old or ""), tag)
        assert result == f"{repository}:{tag}"
        # The registry's own image rule accepts the result: pinned, never latest.
        spec = {"name": "x", "image": result, "port": 1, "replicas": {"small": 1, "medium": 1, "large": 1}}
        assert AppComponent.model_validate(spec).image == result


class TestResolve:
    api = AppComponent.model_validate(
        {
            "name": "api",
            "image": "ghcr.io/acme/api:1.42.0",
            "port": 8080,
            "replicas": {"small": 2, "medium": 3, "large": 6},
        }
    )

    @pytest.mark.parametrize(
        ("size", "replicas", "cpu"), [("small", 2, "250m"), ("medium", 3, "500m"), ("large", 6, "1")]
    )
    def test_size_sets_replicas_and_resources(self, size, replicas, cpu):
        spec = resolve_component(self.api, Size(size))
        assert (spec.replicas, spec.resources.cpu, spec.image) == (replicas, cpu, "ghcr.io/acme/api:1.42.0")
        assert spec.max_replicas == replicas * HPA_MAX_FACTOR

    def test_override_replaces_tag_and_replicas(self):
        spec = resolve_component(self.api, Size.large, ComponentOverride(image_tag="1.43.0-rc.1", replicas=9))
        assert (spec.image, spec.replicas, spec.max_replicas) == ("ghcr.io/acme/api:1.43.0-rc.1", 9, 27)

    def test_override_of_tag_only_keeps_size_replicas(self):
        spec = resolve_component(self.api, Size.small, ComponentOverride(image_tag="1.43.0"))
        assert spec.replicas == 2

    def test_each_cell_gets_only_its_own_overrides(self, registry):
        components = registry.organization.components
        api_images = {c.name: cell_workloads(components, c)[0].image for c in registry.cells}
        assert api_images.pop("staging") == "ghcr.io/acme/api:1.43.0-rc.1"
        assert set(api_images.values()) == {"ghcr.io/acme/api:1.42.0"}
        staging = {w.name: w.image for w in cell_workloads(components, registry.cell("staging"))}
        assert staging["worker"] == "ghcr.io/acme/worker:1.42.0"


class TestOverrideValidation:
    def _error(self, registry_copy, edit_yaml, override: dict[str, Any]) -> str:
        edit_yaml(registry_copy / "cells/gamma.yaml", lambda d: d.update(overrides={"api": override}))
        with pytest.raises(RegistryError) as exc:
            load_registry(registry_copy)
        (issue,) = exc.value.issues
        assert issue.file.endswith("gamma.yaml")
        return f"{issue.path}: {issue.message}"

    def test_latest_tag(self, registry_copy, edit_yaml):
        assert "overrides.api.image_tag: image tag `latest` is not allowed" in self._error(
            registry_copy, edit_yaml, {"image_tag": "latest"}
        )

    @pytest.mark.parametrize("tag", ["ghcr.io/acme/api:1.0", "sha256:abc", "-rc1", "v1 beta", "a" * 129])
    def test_malformed_tag(self, registry_copy, edit_yaml, tag):
        assert f"overrides.api.image_tag: {tag!r} is not an image tag" in self._error(
            registry_copy, edit_yaml, {"image_tag": tag}
        )

    @pytest.mark.parametrize(
        ("replicas", "bound"), [(0, "greater than or equal to 1"), (101, "less than or equal to 100")]
    )
    def test_replicas_bounds(self, registry_copy, edit_yaml, replicas, bound):
        assert f"overrides.api.replicas: Input should be {bound}" in self._error(
            registry_copy, edit_yaml, {"replicas": replicas}
        )

    def test_empty_override(self, registry_copy, edit_yaml):
        assert "overrides.api: an override must set image_tag, replicas or both" in self._error(
            registry_copy, edit_yaml, {}
        )

    def test_sample_registry_is_valid(self):
        assert load_registry(DEFAULT_REGISTRY).cell("staging").overrides["api"].image_tag == "1.43.0-rc.1"


# --- the component in both kinds of cell ----------------------------------------------------


@pytest.mark.parametrize("name", CELLS)
class TestEveryCell:
    def test_one_of_each_object_per_component_with_unique_urns(self, plans, registry, name):
        plan = plans[name]
        urns = [r.urn for r in plan.resources]
        assert len(urns) == len(set(urns))
        components = [c.name for c in registry.organization.components]
        namespaces = [r.inputs["metadata"]["name"] for r in k8s_objects(plan) if r.type == NAMESPACE]
        assert sorted(namespaces) == sorted(components)
        serving = registry.organization.routing.component
        for component in components:
            for type_ in (DEPLOYMENT, SERVICE, HPA, PDB):
                (found,) = in_namespace(plan, type_, component)
                assert found.inputs["metadata"]["name"] == component
            # The serving component also answers the tenants' names (tests/test_tenant_names.py).
            ingresses = sorted(r.inputs["metadata"]["name"] for r in in_namespace(plan, INGRESS, component))
            assert ingresses == sorted([component, *([f"{component}-tenants"] if component == serving else [])])
            policies = {r.inputs["metadata"]["name"] for r in in_namespace(plan, NETPOL, component)}
            assert policies == {
                "default-deny",
                "allow-ingress-controller",
                "allow-application",
                "allow-dns",
                "allow-acme-solver",
                "allow-egress-application",
            }

    def test_every_object_is_labelled_parented_and_uses_the_cell_provider(self, plans, registry, name):
        plan = plans[name]
        cell = registry.cell(name)
        provider = plan.one(PROVIDER, f"{name}-k8s")
        # Provider inputs reach the engine as strings.
        assert str(provider.inputs["enableServerSideApply"]).lower() == "true"
        # The provider talks to this cell's own cluster: the one of the kubeconfig its cell program exports.
        kubeconfig = unsecret(provider.inputs["kubeconfig"])
        assert kubeconfig
        exported = unsecret(plan.outputs["kubeconfig"])
        # AWS exports the everyday (read-only) kubeconfig while the provider deploys as the access role.
        assert kubeconfig == exported or json.loads(kubeconfig)["clusters"] == json.loads(exported)["clusters"]
        component = plan.one(COMPONENT, f"{name}-workloads")
        objects = k8s_objects(plan)
        # Namespace, 5 workload objects, 6 network policies; the tenants' Ingress and Certificate.
        assert len(objects) == 3 * (1 + 5 + 6) + 2
        for obj in objects:
            assert obj.provider == provider.urn, obj.urn
            assert obj.parent == component.urn, obj.urn
            assert obj.name.startswith(f"{name}-workloads-"), obj.name
            labels = obj.inputs["metadata"]["labels"]
            assert cell.tags.items() <= labels.items(), obj.urn
        # Whatever else the cell program puts on the cluster, nothing Kubernetes goes through a default provider.
        assert not [r.urn for r in plan.resources if r.type.startswith("kubernetes:") and r.provider is None]

    def test_namespaces_enforce_restricted_pod_security(self, plans, name):
        for ns in [r for r in k8s_objects(plans[name]) if r.type == NAMESPACE]:
            labels = ns.inputs["metadata"]["labels"]
            for mode in ("enforce", "audit", "warn"):
                assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"

    def test_replicas_and_resources_follow_size(self, plans, registry, name):
        cell = registry.cell(name)
        for component in registry.organization.components:
            override = cell.overrides.get(component.name)
            replicas = (override and override.replicas) or component.replicas[cell.size]
            spec = deployment(plans[name], component.name)["spec"]
            assert spec["replicas"] == replicas
            size = component.resources[cell.size]
            expected = {"cpu": size.cpu, "memory": size.memory}
            resources = container(plans[name], component.name)["resources"]
            assert resources == {"requests": expected, "limits": expected}
            (hpa,) = in_namespace(plans[name], HPA, component.name)
            assert hpa.inputs["spec"]["minReplicas"] == replicas
            assert hpa.inputs["spec"]["maxReplicas"] == replicas * HPA_MAX_FACTOR
            assert hpa.inputs["spec"]["scaleTargetRef"] == {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": component.name,
            }

    def test_the_autoscaler_owns_the_live_replica_count(self, plans, name):
        for dep in plans[name].of_type(DEPLOYMENT):
            assert dep.ignore_changes == ("spec.replicas",)

    def test_hardened_pods(self, plans, registry, name):
        for component in registry.organization.components:
            pod = deployment(plans[name], component.name)["spec"]["template"]["spec"]
            ctr = container(plans[name], component.name)
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            assert pod["automountServiceAccountToken"] is False
            sc = ctr["securityContext"]
            assert sc["privileged"] is False
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["runAsNonRoot"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert ctr["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
            assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "128Mi"}}]
            assert not ctr["image"].endswith(":latest") and ":" in ctr["image"].rsplit("/", 1)[-1]

    def test_probes_hit_the_health_path_on_the_component_port(self, plans, registry, name):
        for component in registry.organization.components:
            ctr = container(plans[name], component.name)
            assert ctr["ports"] == [{"name": "http", "containerPort": component.port, "protocol": "TCP"}]
            for probe in ("readinessProbe", "livenessProbe"):
                assert ctr[probe]["httpGet"] == {"path": component.health_path, "port": "http"}

    def test_pods_know_their_cell_and_spread_across_zones(self, plans, registry, name):
        cell = registry.cell(name)
        for component in registry.organization.components:
            env = {e["name"]: e["value"] for e in container(plans[name], component.name)["env"]}
            assert env == {
                "CELL_NAME": name,
                "CELL_REGION": cell.region,
                "CELL_DOMAIN": registry.zone_name(cell),
                "CELL_ENVIRONMENT": str(cell.environment),
            }
            spread = deployment(plans[name], component.name)["spec"]["template"]["spec"]["topologySpreadConstraints"]
            zone = next(s for s in spread if s["topologyKey"] == "topology.kubernetes.io/zone")
            assert zone["labelSelector"] == {"matchLabels": {"app.kubernetes.io/name": component.name}}
            assert zone["maxSkew"] == 1

    def test_ingress_hosts_are_in_the_cell_zone_with_tls(self, plans, registry, name):
        cell = registry.cell(name)
        for component in registry.organization.components:
            (ing,) = [r for r in in_namespace(plans[name], INGRESS, component.name) if "tenants" not in r.name]
            host = cell.endpoint(component.name, registry.organization.domain)
            assert host == f"{component.name}.{name}.cells.acme-corp.net"
            spec = ing.inputs["spec"]
            assert spec["ingressClassName"] == "nginx"
            # The serving component's host is named by the tenants' certificate (tests/test_tenant_names.py).
            secret = "tenants-tls" if component.name == registry.organization.routing.component else None
            assert spec["tls"] == [{"hosts": [host], "secretName": secret or f"{component.name}-tls"}]
            (rule,) = spec["rules"]
            assert rule["host"] == host
            (path,) = rule["http"]["paths"]
            assert path["backend"] == {"service": {"name": component.name, "port": {"number": component.port}}}

    def test_service_and_disruption_budget_select_the_pods(self, plans, registry, name):
        for component in registry.organization.components:
            selector = {"app.kubernetes.io/name": component.name}
            pod_labels = deployment(plans[name], component.name)["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= pod_labels.items()
            (svc,) = in_namespace(plans[name], SERVICE, component.name)
            assert svc.inputs["spec"]["selector"] == selector
            assert svc.inputs["spec"]["ports"][0]["port"] == component.port
            (pdb,) = in_namespace(plans[name], PDB, component.name)
            assert pdb.inputs["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}


class TestNetworkPolicies:
    def policy(self, plan: StackPlan, component: str, policy: str) -> dict[str, Any]:
        (found,) = [r for r in in_namespace(plan, NETPOL, component) if r.inputs["metadata"]["name"] == policy]
        return found.inputs["spec"]

    def test_default_deny_selects_every_pod_both_ways(self, plans):
        spec = self.policy(plans["alpha"], "api", "default-deny")
        assert spec == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    def test_only_the_ingress_controller_reaches_the_port_from_outside(self, plans):
        spec = self.policy(plans["beta"], "web", "allow-ingress-controller")
        assert spec["ingress"] == [
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                "ports": [{"protocol": "TCP", "port": 3000}],
            }
        ]

    def test_application_namespaces_reach_each_other_on_their_ports_only(self, plans):
        spec = self.policy(plans["alpha"], "api", "allow-application")
        (rule,) = spec["ingress"]
        (source,) = rule["from"]
        assert source["namespaceSelector"]["matchExpressions"] == [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["api", "worker", "web"]}
        ]
        assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
        egress = self.policy(plans["alpha"], "web", "allow-egress-application")["egress"]
        assert {
            (e["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], e["ports"][0]["port"])
            for e in egress
        } == {
            ("api", 8080),
            ("worker", 9090),
        }

    def test_dns_egress_only_to_kube_dns(self, plans):
        spec = self.policy(plans["alpha"], "worker", "allow-dns")
        (rule,) = spec["egress"]
        assert rule["to"] == [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ]
        assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]


class TestAcrossCells:
    def test_aws_and_gcp_cells_run_the_same_objects(self, plans):
        def shape(plan: StackPlan) -> Counter[tuple[str, str, str]]:
            return Counter(
                (r.type, r.inputs["metadata"].get("namespace", ""), r.inputs["metadata"]["name"])
                for r in k8s_objects(plan)
            )

        assert shape(plans["alpha"]) == shape(plans["beta"]) == shape(plans["staging"])

    def test_containers_differ_only_in_size_and_cell(self, plans):
        def normalised(plan: StackPlan, component: str) -> dict[str, Any]:
            ctr = dict(container(plan, component))
            for key in ("env", "resources"):
                ctr.pop(key)
            return ctr

        for component in ("api", "worker", "web"):
            assert normalised(plans["alpha"], component) == normalised(plans["beta"], component)

    def test_override_applies_only_to_its_cell(self, plans):
        assert container(plans["staging"], "api")["image"] == "ghcr.io/acme/api:1.43.0-rc.1"
        assert container(plans["staging"], "worker")["image"] == "ghcr.io/acme/worker:1.42.0"
        assert container(plans["alpha"], "api")["image"] == "ghcr.io/acme/api:1.42.0"
        assert container(plans["beta"], "api")["image"] == "ghcr.io/acme/api:1.42.0"

    def test_replicas_override(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/beta.yaml", lambda d: d.update(overrides={"worker": {"replicas": 7}}))
        reg = load_registry(registry_copy)
        beta = workloads_plan(reg, "beta")
        assert deployment(beta, "worker")["spec"]["replicas"] == 7
        assert deployment(beta, "api")["spec"]["replicas"] == 3  # medium, untouched
        (hpa,) = in_namespace(beta, HPA, "worker")
        assert (hpa.inputs["spec"]["minReplicas"], hpa.inputs["spec"]["maxReplicas"]) == (7, 21)

    def test_sizes_differ(self, plans):
        # alpha is large, beta medium, staging small: the api's replicas follow.
        assert [deployment(plans[c], "api")["spec"]["replicas"] for c in ("alpha", "beta", "staging")] == [6, 3, 2]


def test_cell_programs_deploy_exactly_what_deploy_builds(registry, plans):
    """Neither cell program adds, drops or changes a workload object: the same inputs as `deploy` alone."""
    for name in ("alpha", "beta"):
        alone = {r.name: r.inputs for r in k8s_objects(deploy_only(registry, name))}
        assert alone == {r.name: r.inputs for r in k8s_objects(plans[name])}


class TestMocks:
    def test_ids_and_metadata_are_those_of_the_api_server(self, plans):
        plan = plans["alpha"]
        ns = plan.one(NAMESPACE, "alpha-workloads-api-namespace")
        assert ns.outputs["id"] == "api"
        assert ns.outputs["metadata"]["labels"]["kubernetes.io/metadata.name"] == "api"
        dep = plan.one(DEPLOYMENT, "alpha-workloads-api-deployment")
        assert dep.outputs["id"] == "api/api"
        assert dep.outputs["status"]["readyReplicas"] == 6
        svc = plan.one(SERVICE, "alpha-workloads-api-service")
        assert svc.outputs["spec"]["clusterIP"].startswith("172.20.")

    def test_component_outputs(self, registry):
        from stacks.workloads import deploy

        cell = registry.cell("beta")
        seen: dict[str, Any] = {}

        def program() -> None:
            workloads = deploy(registry, cell, "kubeconfig")
            workloads.hosts.apply(seen.update)
            workloads.namespaces.apply(lambda ns: seen.update(namespaces=ns))

        run_program(program, stack=cell.stack_name, mocks=CloudMocks(registry))
        assert seen["web"] == "web.beta.cells.acme-corp.net"
        assert seen["namespaces"] == {"api": "api", "worker": "worker", "web": "web"}


def test_duplicate_component_names_are_refused(registry):
    from components.k8s.workloads import Workloads

    spec = WorkloadSpec("api", "ghcr.io/acme/api:1.0", 8080, 2, ComputeResources("250m", "256Mi"), "/healthz")
    cell = CellIdentity("alpha", "us-east-1", "alpha.example.com", "prod")

    def program() -> None:
        import pulumi_kubernetes as k8s

        Workloads(
            "alpha-workloads",
            {
                "components": [spec, spec],
                "cell": cell,
                "labels": {},
                "ingress_class": "nginx",
                "ingress_namespace": "x",
            },
            provider=k8s.Provider("alpha-k8s", kubeconfig="kubeconfig"),
        )

    with pytest.raises(ValueError, match="unique names; repeated: api"):
        run_program(program, stack="cell-alpha", mocks=CloudMocks(registry))


# --- the guardrail on workloads (rule 10) -----------------------------------------------------


class TestGuardrails:
    @pytest.mark.parametrize("name", ["alpha", "beta"])
    def test_no_rule_fires_on_the_workloads(self, plans, registry, name):
        from policies.evaluate import evaluate

        plan = plans[name]
        findings = evaluate(plan.resources, registry=registry)
        ours = {r.urn for r in k8s_objects(plan)} | {plan.one(PROVIDER, f"{name}-k8s").urn}
        assert [f for f in findings if f.urn in ours] == []
        assert [f for f in findings if f.policy == "k8s-workload-hygiene"] == []

    @staticmethod
    def _with_container(record: PlannedResource, change: Any) -> PlannedResource:
        inputs = copy.deepcopy(record.inputs)
        change(inputs["spec"]["template"]["spec"]["containers"][0])
        return dataclasses.replace(record, inputs=inputs)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (lambda c: c["securityContext"].update(privileged=True), "runs privileged"),
            (lambda c: c.update(image="ghcr.io/acme/api:latest"), "uses the :latest tag"),
            (lambda c: c.update(image="ghcr.io/acme/api"), "has no tag"),
            (lambda c: c["resources"].pop("limits"), "no limits for cpu and memory"),
        ],
        ids=["privileged", "latest", "untagged", "no-limits"],
    )
    def test_workload_rule_fires_on_a_broken_container(self, plans, registry, change, message):
        from policies.evaluate import evaluate
        from policies.workloads import workload_hygiene

        plan = plans["alpha"]
        good = plan.one(DEPLOYMENT, "alpha-workloads-api-deployment")
        bad = self._with_container(good, change)
        records = [bad if r.urn == good.urn else r for r in plan.resources]
        (finding,) = evaluate(records, registry=registry, policies=[workload_hygiene])
        assert finding.urn == good.urn
        assert finding.level == "mandatory"
        assert "container api: " in finding.message
        assert message in finding.message
