"""Where deployments run: the registry's runner, the endpoint access derived from it, and the reachability rule.

The rule is proven on the resources the real programs record (AWS prod and non-prod cells, the
GCP cell), then on the same records with one thing broken, and on hand-built GKE shapes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cellctl.offline import PlannedResource, StackPlan, run_stack
from cells import Registry, RegistryError, load_registry
from cells.deploy import CiRunner, InNetworkRunner
from policies.evaluate import Finding, evaluate
from policies.reachability import deploy_reachability, kubeconfig_server
from policies.testing import Stack

CLUSTER = "aws:eks/cluster:Cluster"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
K8S = "pulumi:providers:kubernetes"
EGRESS = ["203.0.113.16/28", "198.51.100.64/27"]

_PLANS: dict[tuple[str, str], StackPlan] = {}


def plan_of(registry: Registry, stack: str, key: str = "sample") -> StackPlan:
    if (stack, key) not in _PLANS:
        _PLANS[(stack, key)] = run_stack(stack, registry)
    return _PLANS[(stack, key)]


def reachability(records: list[Any], registry: Registry) -> list[Finding]:
    return evaluate(records, registry=registry, policies=[deploy_reachability])


def with_outputs(plan: StackPlan, type_: str, change: Callable[[dict[str, Any]], None]) -> list[PlannedResource]:
    """The plan's records with the outputs (what stack rules read) of its one `type_` resource changed."""
    target = plan.one(type_)
    outputs = copy.deepcopy(target.outputs)
    change(outputs)
    return [replace(r, outputs=outputs) if r.urn == target.urn else r for r in plan.resources]


def registry_with(registry_copy: Path, edit_yaml: Any, cell: str, deploy: dict[str, Any] | None) -> Registry:
    def change(data: dict[str, Any]) -> None:
        if deploy is None:
            data.pop("deploy", None)
        else:
            data["deploy"] = deploy

    edit_yaml(registry_copy / "cells" / f"{cell}.yaml", change)
    return load_registry(registry_copy)


IN_NETWORK_STAGING = {
    "runner": {"kind": "in-network", "cidrs": ["10.16.200.0/24"], "security_group_id": "sg-0123456789abcdef0"}
}


# --- the registry ------------------------------------------------------------------------------


def test_the_sample_declares_a_ci_runner_for_every_cell(registry: Registry) -> None:
    for cell in registry.cells:
        runner = registry.runner_for(cell)
        assert isinstance(runner, CiRunner)
        assert [str(c) for c in runner.egress_cidrs] == EGRESS


@pytest.mark.parametrize(
    ("runner", "field", "reason"),
    [
        ({"kind": "ci", "egress_cidrs": ["0.0.0.0/0"]}, "deploy.runner.egress_cidrs", "whole internet"),
        ({"kind": "ci", "egress_cidrs": ["10.0.0.0/8"]}, "deploy.runner.egress_cidrs", "not a public range"),
        ({"kind": "ci", "egress_cidrs": []}, "deploy.runner.egress_cidrs", "at least 1"),
        ({"kind": "in-network"}, "deploy.runner", "cidrs, its security_group_id"),
        ({"kind": "in-network", "cidrs": ["10.99.0.0/24"]}, "deploy.runner.cidrs[0]", "not inside the cell's network"),
        ({"kind": "in-network", "security_group_id": "sg-12"}, "deploy.runner.security_group_id", "expected form"),
        ({"kind": "vpn"}, "deploy.runner", "kind"),
    ],
)
def test_bad_runners_are_registry_errors(
    registry_copy: Path, edit_yaml: Any, runner: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(RegistryError) as err:
        registry_with(registry_copy, edit_yaml, "staging", {"runner": runner})
    issues = [i for i in err.value.issues if i.file.endswith("staging.yaml")]
    assert any(i.path.startswith(field) and reason in i.message for i in issues), err.value.report()


def test_a_security_group_is_refused_for_a_gcp_cell(registry_copy: Path, edit_yaml: Any) -> None:
    runner = {"kind": "in-network", "cidrs": ["10.48.200.0/24"], "security_group_id": "sg-0123456789abcdef0"}
    with pytest.raises(RegistryError, match=r"beta\.yaml: deploy\.runner\.security_group_id: .*AWS security group"):
        registry_with(registry_copy, edit_yaml, "beta", {"runner": runner})


def test_an_inherited_in_network_runner_must_lie_in_each_cell(registry_copy: Path, edit_yaml: Any) -> None:
    def change(data: dict[str, Any]) -> None:
        data["deploy"] = {"runner": {"kind": "in-network", "cidrs": ["10.16.200.0/24"]}}

    edit_yaml(registry_copy / "organization.yaml", change)
    with pytest.raises(RegistryError) as err:
        load_registry(registry_copy)
    report = err.value.report()
    assert "alpha.yaml: deploy: in-network runner address 10.16.200.0/24 is not inside the cell's network" in report
    assert "staging.yaml" not in report  # inside staging's 10.16.0.0/16


# --- what the AWS programs derive ---------------------------------------------------------------


@pytest.mark.parametrize("stack", ["cell-alpha", "cell-staging"])
def test_a_ci_runner_opens_the_public_endpoint_to_its_egress_only(registry: Registry, stack: str) -> None:
    vpc = plan_of(registry, stack).one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == EGRESS
    assert plan_of(registry, stack).of_type(INGRESS) == []


def test_non_prod_config_cidrs_join_the_runner(registry: Registry) -> None:
    plan = run_stack("cell-staging", registry, config={"eksPublicAccessCidrs": '["192.0.2.0/24"]'})
    assert plan.one(CLUSTER).inputs["vpcConfig"]["publicAccessCidrs"] == [*EGRESS, "192.0.2.0/24"]


def test_an_in_network_runner_gets_443_on_the_cluster_security_group(registry_copy: Path, edit_yaml: Any) -> None:
    registry = registry_with(registry_copy, edit_yaml, "staging", IN_NETWORK_STAGING)
    plan = plan_of(registry, "cell-staging", "in-network")
    cluster = plan.one(CLUSTER)
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    rules = {r.name: r.inputs for r in plan.of_type(INGRESS)}
    group = cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]
    assert rules == {
        "staging-api-from-10-16-200-0-24": {
            "securityGroupId": group,
            "ipProtocol": "tcp",
            "fromPort": 443,
            "toPort": 443,
            "cidrIpv4": "10.16.200.0/24",
            "description": "Kubernetes API from the deploy runner",
        },
        "staging-api-from-sg-0123456789abcdef0": {
            "securityGroupId": group,
            "ipProtocol": "tcp",
            "fromPort": 443,
            "toPort": 443,
            "referencedSecurityGroupId": "sg-0123456789abcdef0",
            "description": "Kubernetes API from the deploy runner",
        },
    }
    assert reachability(plan.resources, registry) == []


def test_the_kubernetes_provider_waits_for_the_443_rules(registry_copy: Path, edit_yaml: Any) -> None:
    """The first `up` from an in-network runner: Helm and workloads start only once 443 is open."""
    registry = registry_with(registry_copy, edit_yaml, "staging", IN_NETWORK_STAGING)
    plan = plan_of(registry, "cell-staging", "in-network")
    rules = {r.urn for r in plan.of_type(INGRESS)}
    assert len(rules) == 2
    assert rules <= set(plan.one(K8S).depends_on)
    # ... and the rule fires when it does not.
    provider = plan.one(K8S)
    records = [
        replace(r, depends_on=tuple(d for d in r.depends_on if d not in rules)) if r.urn == provider.urn else r
        for r in plan.resources
    ]
    [finding] = reachability(records, registry)
    assert "does not wait for the ingress rule(s) staging-api-from-10-16-200-0-24" in finding.message
    assert "before port 443 is open" in finding.message


def test_a_prod_cell_with_an_in_network_runner_has_no_public_endpoint(registry_copy: Path, edit_yaml: Any) -> None:
    runner = {"runner": {"kind": "in-network", "cidrs": ["10.32.200.0/24"]}}
    # Its deployments then run on agents in its network, which need their image (test_deployment_agents.py).
    image = "pulumi/customer-managed-workflow-agent:v1.2.3"
    edit_yaml(registry_copy / "organization.yaml", lambda d: d["pulumi_deployments"].update(agent_image=image))
    registry = registry_with(registry_copy, edit_yaml, "alpha", runner)
    vpc = plan_of(registry, "cell-alpha", "in-network").one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False and vpc["endpointPrivateAccess"] is True


# --- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["cell-alpha", "cell-staging", "cell-beta"])
def test_the_sample_cells_pass(registry: Registry, stack: str) -> None:
    assert reachability(plan_of(registry, stack).resources, registry) == []


def test_a_closed_public_endpoint_fires_for_a_ci_runner(registry: Registry) -> None:
    plan = plan_of(registry, "cell-alpha")
    records = with_outputs(plan, CLUSTER, lambda o: o["vpcConfig"].update(endpointPublicAccess=False))
    [finding] = reachability(records, registry)
    assert finding.level == "mandatory" and finding.name == "alpha-k8s"
    assert finding.message.startswith("cell alpha: the Kubernetes provider alpha-k8s targets the cluster alpha-cluster")
    assert "ci runner (egress 203.0.113.16/28, 198.51.100.64/27)" in finding.message
    assert "public endpoint is off" in finding.message


def test_a_missing_egress_cidr_is_named(registry: Registry) -> None:
    plan = plan_of(registry, "cell-alpha")
    records = with_outputs(plan, CLUSTER, lambda o: o["vpcConfig"].update(publicAccessCidrs=["203.0.113.16/28"]))
    [finding] = reachability(records, registry)
    assert "does not admit 198.51.100.64/27" in finding.message


def test_a_runner_moved_into_the_network_without_an_update_fires(
    registry: Registry, registry_copy: Path, edit_yaml: Any
) -> None:
    """Planned with the CI runner, judged against a registry whose staging runner is now in-network."""
    moved = registry_with(registry_copy, edit_yaml, "staging", IN_NETWORK_STAGING)
    [finding] = reachability(plan_of(registry, "cell-staging").resources, moved)
    assert "in-network runner (10.16.200.0/24, sg-0123456789abcdef0)" in finding.message
    assert "no ingress rule on the cluster security group admits 10.16.200.0/24, security group" in finding.message


def test_dropping_the_443_rules_fires(registry_copy: Path, edit_yaml: Any) -> None:
    registry = registry_with(registry_copy, edit_yaml, "staging", IN_NETWORK_STAGING)
    plan = plan_of(registry, "cell-staging", "in-network")
    records = [r for r in plan.resources if r.type != INGRESS]
    [finding] = reachability(records, registry)
    assert "port 443" in finding.message


def test_a_kubeconfig_without_a_server_fails_closed(registry: Registry) -> None:
    stack = Stack("cell-staging")
    stack.add(K8S, "staging-k8s", {"kubeconfig": json.dumps({"apiVersion": "v1", "clusters": []})})
    [finding] = reachability(stack.resources, registry)
    assert "without a cluster server" in finding.message


def test_a_server_no_cluster_serves_fails_closed(registry: Registry) -> None:
    stack = Stack("cell-staging")
    kubeconfig = "clusters:\n- name: x\n  cluster:\n    server: https://elsewhere.example.com\n"
    stack.add(K8S, "staging-k8s", {"kubeconfig": kubeconfig})
    [finding] = reachability(stack.resources, registry)
    assert "targets elsewhere.example.com that no cluster of this stack serves" in finding.message


def test_an_unknown_kubeconfig_is_skipped(registry: Registry) -> None:
    from policies.base import UNKNOWN

    stack = Stack("cell-staging")
    stack.add(K8S, "staging-k8s", {"kubeconfig": UNKNOWN})
    assert reachability(stack.resources, registry) == []


# --- GKE ----------------------------------------------------------------------------------------


def gke(stack: Stack, *, external: bool, server: str, authorized: list[str] | None = None) -> None:
    cluster = stack.add(
        "gcp:container/cluster:Cluster",
        "beta-gke",
        {
            "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": True},
            "controlPlaneEndpointsConfig": {"dnsEndpointConfig": {"allowExternalTraffic": external}},
            "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": c} for c in authorized or []]},
        },
        outputs={
            "endpoint": "172.16.0.2",
            "privateClusterConfig": {"privateEndpoint": "172.16.0.2", "enablePrivateEndpoint": True},
            "controlPlaneEndpointsConfig": {
                "dnsEndpointConfig": {"allowExternalTraffic": external, "endpoint": "gke-abc.europe-west1.gke.goog"}
            },
        },
    )
    kubeconfig = f"clusters:\n- name: beta\n  cluster:\n    server: https://{server}\n"
    stack.add(K8S, "beta-k8s", {"kubeconfig": kubeconfig}, depends_on=(cluster,))


def test_the_gke_dns_endpoint_with_external_traffic_passes_for_ci(registry: Registry) -> None:
    stack = Stack("cell-beta")
    gke(stack, external=True, server="gke-abc.europe-west1.gke.goog")
    assert reachability(stack.resources, registry) == []


def test_the_gke_dns_endpoint_without_external_traffic_fires_for_ci(registry: Registry) -> None:
    stack = Stack("cell-beta")
    gke(stack, external=False, server="gke-abc.europe-west1.gke.goog")
    [finding] = reachability(stack.resources, registry)
    assert "cell beta" in finding.message and "allowExternalTraffic" in finding.message


def test_the_gke_private_ip_fires_for_ci_and_passes_in_network(
    registry: Registry, registry_copy: Path, edit_yaml: Any
) -> None:
    stack = Stack("cell-beta")
    gke(stack, external=True, server="172.16.0.2", authorized=["10.48.0.0/19"])
    [finding] = reachability(stack.resources, registry)
    assert "private IP endpoint" in finding.message
    inside = registry_with(
        registry_copy, edit_yaml, "beta", {"runner": {"kind": "in-network", "cidrs": ["10.48.8.0/24"]}}
    )
    assert isinstance(inside.runner_for(inside.cell("beta")), InNetworkRunner)
    assert reachability(stack.resources, inside) == []


def test_kubeconfig_server_reads_json_and_yaml() -> None:
    eks = json.dumps(
        {
            "clusters": [{"name": "a", "cluster": {"server": "https://ABC.gr7.us-east-1.eks.amazonaws.com"}}],
            "contexts": [{"name": "a", "context": {"cluster": "a"}}],
            "current-context": "a",
        }
    )
    assert kubeconfig_server(eks) == "abc.gr7.us-east-1.eks.amazonaws.com"
    assert kubeconfig_server("clusters: [") is None


def test_plan_all_reports_a_reachability_problem_when_one_is_introduced(
    registry_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster whose public endpoint no longer follows the runner: `cellctl plan --all` exits 1 and says why."""
    from typer.testing import CliRunner

    from cellctl.main import app
    from stacks import cell_aws, endpoint_access

    for other in ("alpha", "beta", "gamma", "dev-jdoe"):
        (registry_copy / "cells" / f"{other}.yaml").unlink()
        (registry_copy / "tenants" / f"{other}.yaml").unlink()  # a removed cell takes its tenants along
    closed = endpoint_access.EndpointAccess(public_cidrs=[], ingress_cidrs=[], ingress_security_groups=[])
    monkeypatch.setattr(cell_aws, "eks_endpoint_access", lambda *args: closed)
    result = CliRunner().invoke(app, ["plan", "--all", "--json", "-j", "1", "--registry", str(registry_copy)])
    assert result.exit_code == 1, result.output
    stacks = {s["stack"]: s for s in json.loads(result.stdout)["stacks"]}
    assert set(stacks) == {"management", "cell-staging", "routing"}
    [finding] = [f for f in stacks["cell-staging"]["findings"] if f["policy"] == "deploy-reachability"]
    assert finding["level"] == "mandatory"
    assert "cell staging" in finding["message"] and "public endpoint is off" in finding["message"]


def test_more_than_forty_public_cidrs_is_a_clear_error(registry: Registry) -> None:
    from stacks.endpoint_access import EndpointAccessError

    many = json.dumps([f"192.0.2.{i * 4}/30" for i in range(39)])
    with pytest.raises(EndpointAccessError, match="41 public access CIDRs; EKS allows 40"):
        run_stack("cell-staging", registry, config={"eksPublicAccessCidrs": many})
