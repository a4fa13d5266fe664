"""The customer-managed agents a private prod AWS cell runs on its own cluster for its agent pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cellctl.mocks.pulumi_cloud import agent_pool_token
from cellctl.offline import run_stack
from cellctl.plan import plan_stack
from cells import Registry, load_registry
from components.k8s import deployment_agent

IN_NETWORK = {"runner": {"kind": "in-network", "cidrs": ["10.64.200.0/24"]}}
SIG, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
IMAGE = "pulumi/customer-managed-workflow-agent:v1.2.3"
AGENT_TYPES = {
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:apps/v1:Deployment",
}


def private_gamma(registry_copy: Path, edit_yaml: Any, image: str | None = IMAGE) -> Registry:
    edit_yaml(registry_copy / "cells" / "gamma.yaml", lambda d: d.update(deploy=IN_NETWORK))
    if image:
        edit_yaml(registry_copy / "organization.yaml", lambda d: d["pulumi_deployments"].update(agent_image=image))
    return load_registry(registry_copy)


def agent_resources(plan: Any) -> list[Any]:
    return [r for r in plan.resources if r.type in AGENT_TYPES and "pulumi-agent" in str(r.inputs.get("metadata"))]


def test_the_agents_run_on_the_cells_cluster_with_the_pools_token(registry_copy: Path, edit_yaml: Any) -> None:
    plan = run_stack("cell-gamma", private_gamma(registry_copy, edit_yaml))
    found = {r.type: r for r in agent_resources(plan)}
    assert set(found) == AGENT_TYPES
    assert all(r.provider and r.provider.endswith("gamma-k8s") for r in found.values())  # the cell's own cluster
    secret = found["kubernetes:core/v1:Secret"]
    # Sent as a Pulumi secret (the SDK's secret signature): encrypted in the state, masked in output.
    data = secret.inputs["stringData"]
    assert data[SIG] == SECRET_SIG
    assert data["value"] == {"PULUMI_AGENT_TOKEN": agent_pool_token("gamma")}
    pod = found["kubernetes:apps/v1:Deployment"].inputs["spec"]["template"]["spec"]
    [agent] = pod["containers"]
    env = {e["name"]: e for e in agent["env"]}
    assert env["PULUMI_AGENT_DEPLOY_TARGET"]["value"] == "kubernetes"
    assert env["PULUMI_AGENT_IMAGE"]["value"] == agent["image"] == IMAGE
    # The token is never a plain value in the pod spec: it comes from the Secret.
    assert env["PULUMI_AGENT_TOKEN"] == {
        "name": "PULUMI_AGENT_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "pulumi-agent-token", "key": "PULUMI_AGENT_TOKEN"}},
    }
    assert pod["serviceAccountName"] == "pulumi-deployment-agent"
    # Worker pods only, in the agents' namespace only.
    role = found["kubernetes:rbac.authorization.k8s.io/v1:Role"].inputs
    assert role["metadata"]["namespace"] == deployment_agent.NAMESPACE
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["pods", "pods/log", "configmaps"],
            "verbs": ["create", "get", "list", "watch", "update", "delete"],
        }
    ]


def test_the_pack_and_the_kubernetes_schemas_accept_the_agents(registry_copy: Path, edit_yaml: Any) -> None:
    registry = private_gamma(registry_copy, edit_yaml)
    result = plan_stack("cell-gamma", registry)
    assert result.error is None, result.error
    agents = {r.urn for r in agent_resources(run_stack("cell-gamma", registry))}
    about_agents = [f for f in result.findings if f["urn"] in agents]
    assert [f for f in about_agents if f["level"] in {"mandatory", "error"}] == []


def test_an_unpinned_agent_image_would_be_refused_by_the_pack(registry_copy: Path, edit_yaml: Any) -> None:
    """The registry refuses `latest`; were it to slip through, the workload rule fires on the agents."""
    from policies.workloads import container_problems

    assert (
        "uses the :latest tag"
        in container_problems(
            {"name": "agent", "image": "pulumi/customer-managed-workflow-agent:latest", "resources": {}}
        )[-1]
    )


def test_cells_reached_from_outside_run_no_agents(registry: Registry) -> None:
    for stack in ("cell-alpha", "cell-gamma"):
        assert agent_resources(run_stack(stack, registry)) == []


def test_a_private_cell_without_an_agent_image_is_refused(registry_copy: Path, edit_yaml: Any) -> None:
    with pytest.raises(Exception, match=r"pulumi_deployments.agent_image is not set"):
        run_stack("cell-gamma", private_gamma(registry_copy, edit_yaml, image=None))


def test_worker_pods_run_as_an_account_without_the_agents_rights(registry_copy: Path, edit_yaml: Any) -> None:
    """Worker pods run the repository's program: with the agent's account they could create pods, and a pod
    may mount any Secret of its namespace, the pool's token included (the agent's own manifests give workers
    an account of their own)."""
    plan = run_stack("cell-gamma", private_gamma(registry_copy, edit_yaml))
    resources = agent_resources(plan)
    pod = next(r for r in resources if r.type == "kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    worker = env["PULUMI_AGENT_SERVICE_ACCOUNT_NAME"]
    accounts = {r.inputs["metadata"]["name"] for r in resources if r.type == "kubernetes:core/v1:ServiceAccount"}
    bound = {
        s["name"]
        for r in resources
        if r.type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
        for s in r.inputs["subjects"]
    }
    assert worker in accounts and worker != pod["serviceAccountName"]
    assert worker not in bound and pod["serviceAccountName"] in bound
