"""EKS node autoscaling (Cluster Autoscaler with Pod Identity) and the node-capacity rule on both clouds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cellctl.offline import StackPlan, run_stack
from cells import Registry, load_registry
from components.aws import autoscaler
from components.aws.cluster import DEFAULT_VERSION
from policies.capacity import cpu_millicores, memory_mebibytes, node_capacity
from policies.evaluate import Finding, evaluate
from policies.testing import Stack

RELEASE = "kubernetes:helm.sh/v3:Release"
_PLANS: dict[tuple[str, str], StackPlan] = {}


def plan_of(registry: Registry, stack: str, key: str = "sample") -> StackPlan:
    if (stack, key) not in _PLANS:
        _PLANS[(stack, key)] = run_stack(stack, registry)
    return _PLANS[(stack, key)]


def capacity(records: list[Any], registry: Registry) -> list[Finding]:
    return evaluate(records, registry=registry, policies=[node_capacity])


# --- the autoscaler -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def staging(registry: Registry) -> StackPlan:
    return plan_of(registry, "cell-staging")


def test_the_autoscaler_role_is_for_the_cluster_autoscaler_service_account_only(staging: StackPlan) -> None:
    role = staging.one("aws:iam/role:Role", "staging-cluster-autoscaler")
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-name": "staging",
        "aws:RequestTag/kubernetes-namespace": "kube-system",
        "aws:RequestTag/kubernetes-service-account": "cluster-autoscaler",
    }
    association = staging.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "staging-cluster-autoscaler")
    assert association.inputs["namespace"] == "kube-system"
    assert association.inputs["serviceAccount"] == "cluster-autoscaler"
    assert association.inputs["roleArn"] == role.outputs["arn"]
    assert association.inputs["clusterName"] == "staging"


def test_the_autoscaler_may_scale_only_its_clusters_groups(staging: StackPlan) -> None:
    policy = json.loads(staging.one("aws:iam/rolePolicy:RolePolicy", "staging-cluster-autoscaler").inputs["policy"])
    discover, nodegroups, scale = policy["Statement"]
    assert discover["Resource"] == "*"
    assert "autoscaling:SetDesiredCapacity" not in discover["Action"]
    assert "autoscaling:DescribeTags" in discover["Action"] and "eks:DescribeNodegroup" not in discover["Action"]
    assert nodegroups["Action"] == ["eks:DescribeNodegroup"]
    assert nodegroups["Resource"] == "arn:aws:eks:*:*:nodegroup/staging/*/*"
    assert scale["Action"] == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert scale["Resource"] == "arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*"
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/staging": "owned"}}


def test_the_autoscaler_policy_has_no_resource_star_where_iam_takes_a_resource(staging: StackPlan) -> None:
    """parliament's RESOURCE_STAR (an advisory of cloud/iam) fires on a "*" an action could narrow."""
    from policies import cloud

    findings = [f.message for f in cloud.check(staging.resources) if f.name == "staging-cluster-autoscaler"]
    assert findings == []


def test_the_chart_is_pinned_discovers_the_cluster_and_waits_for_pod_identity(staging: StackPlan) -> None:
    release = staging.one(RELEASE, "staging-cluster-autoscaler")
    assert release.inputs["chart"] == "cluster-autoscaler" and release.inputs["version"] == "9.51.0"
    assert release.inputs["namespace"] == "kube-system"
    values = release.inputs["values"]
    assert values["autoDiscovery"] == {"clusterName": "staging"}
    assert values["awsRegion"] == "us-east-1"
    assert values["rbac"]["serviceAccount"]["name"] == "cluster-autoscaler"
    assert values["resources"]["requests"] == {"cpu": "100m", "memory": "300Mi"}
    needed = {
        staging.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "staging-cluster-autoscaler").urn,
        staging.one("aws:eks/addon:Addon", "staging-pod-identity-agent").urn,
        staging.one("aws:iam/rolePolicy:RolePolicy", "staging-cluster-autoscaler").urn,
    }
    assert needed <= set(release.depends_on)
    assert release.provider == staging.one("pulumi:providers:kubernetes").urn


def test_the_autoscaler_image_is_pinned_to_the_clusters_kubernetes_minor(staging: StackPlan) -> None:
    eks = staging.one("aws:eks/cluster:Cluster")
    image = staging.one(RELEASE, "staging-cluster-autoscaler").inputs["values"]["image"]
    assert image == {"repository": "registry.k8s.io/autoscaling/cluster-autoscaler", "tag": "v1.33.0"}
    assert eks.inputs["version"] == DEFAULT_VERSION == "1.33"


@pytest.mark.parametrize("minor", sorted(autoscaler.RELEASES))
def test_every_pinned_release_is_of_its_clusters_minor(minor: str) -> None:
    release = autoscaler.release_for(minor)
    assert release.image.startswith(f"v{minor}.")
    # Chart 9.x: the major never follows Kubernetes, the pin is a full x.y.z version.
    assert release.chart.startswith("9.") and len(release.chart.split(".")) == 3


def test_the_autoscaler_follows_the_cluster_version(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from stacks import cell_aws

    monkeypatch.setattr(cell_aws, "EKS_VERSION", "1.34")
    plan = run_stack("cell-staging", registry)
    assert plan.one("aws:eks/cluster:Cluster").inputs["version"] == "1.34"
    release = plan.one(RELEASE, "staging-cluster-autoscaler")
    assert release.inputs["version"] == "9.53.0"
    assert release.inputs["values"]["image"]["tag"] == "v1.34.2"


def test_a_cluster_version_without_a_pinned_autoscaler_is_refused_before_any_resource(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacks import cell_aws

    with pytest.raises(autoscaler.AutoscalerVersionError, match=r"'1\.30'.*supported: 1\.32, 1\.33"):
        autoscaler.release_for("1.30")
    monkeypatch.setattr(cell_aws, "EKS_VERSION", "1.30")
    created: list[str] = []
    monkeypatch.setattr(cell_aws, "cell_provider", lambda *a, **k: created.append("provider"))
    with pytest.raises(Exception, match="no pinned Cluster Autoscaler release"):
        run_stack("cell-staging", registry)
    assert created == []


def test_the_node_group_leaves_its_desired_size_to_the_autoscaler(staging: StackPlan) -> None:
    nodes = staging.one("aws:eks/nodeGroup:NodeGroup")
    assert "scalingConfig.desiredSize" in nodes.ignore_changes
    assert nodes.inputs["scalingConfig"]["maxSize"] == 4


# --- the rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["cell-alpha", "cell-staging", "cell-gamma", "cell-dev-jdoe", "cell-beta"])
def test_the_sample_cells_have_the_capacity(registry: Registry, stack: str) -> None:
    assert capacity(plan_of(registry, stack).resources, registry) == []


def with_override(registry_copy: Path, edit_yaml: Any, cell: str, component: str, replicas: int) -> Registry:
    edit_yaml(
        registry_copy / "cells" / f"{cell}.yaml",
        lambda d: d.setdefault("overrides", {}).setdefault(component, {}).update(replicas=replicas),
    )
    return load_registry(registry_copy)


@pytest.mark.parametrize(("cell", "pool"), [("alpha", "16 x m6i.2xlarge"), ("beta", "8 x e2-standard-4")])
def test_raising_max_replicas_beyond_the_nodes_fires(registry_copy: Path, edit_yaml: Any, cell: str, pool: str) -> None:
    registry = with_override(registry_copy, edit_yaml, cell, "worker", 100)
    [finding] = capacity(plan_of(registry, f"cell-{cell}", "100 workers").resources, registry)
    assert finding.level == "mandatory"
    assert finding.message.startswith(f"cell {cell}: at their maximum the node pools ({pool}")
    assert "CPU" in finding.message and "worker 300 x" in finding.message


def test_raising_requests_beyond_a_node_fires(registry_copy: Path, edit_yaml: Any) -> None:
    def bigger(data: dict[str, Any]) -> None:
        worker = next(c for c in data["components"] if c["name"] == "worker")
        worker["resources"]["small"] = {"cpu": "3", "memory": "2Gi"}

    edit_yaml(registry_copy / "organization.yaml", bigger)
    registry = load_registry(registry_copy)
    messages = [f.message for f in capacity(plan_of(registry, "cell-staging", "3 vCPU").resources, registry)]
    assert any("one worker pod requests 3.0 vCPU" in m and "can never be scheduled" in m for m in messages)


def test_an_unknown_chart_fails_closed(registry: Registry) -> None:
    stack = Stack("cell-staging")
    stack.add("aws:eks/nodeGroup:NodeGroup", "n", {"instanceTypes": ["m6i.large"], "scalingConfig": {"maxSize": 4}})
    stack.add(RELEASE, "mystery", {"chart": "mystery", "values": {}})
    [finding] = capacity(stack.resources, registry)
    assert "Helm chart 'mystery'" in finding.message


def test_a_node_group_of_ekss_default_instance_type_is_judged(registry: Registry) -> None:
    # No instanceTypes: EKS launches t3.medium (2 vCPU, 4 GiB, 17 pods with the VPC CNI), which the rule knows.
    stack = Stack("cell-staging")
    stack.add("aws:eks/nodeGroup:NodeGroup", "n", {"scalingConfig": {"maxSize": 4}})
    assert [f.message for f in capacity(stack.resources, registry) if "cannot" in f.message] == []


def test_an_unknown_instance_type_fails_closed(registry: Registry) -> None:
    stack = Stack("cell-staging")
    stack.add("aws:eks/nodeGroup:NodeGroup", "n", {"instanceTypes": ["x9.huge"], "scalingConfig": {"maxSize": 4}})
    [finding] = capacity(stack.resources, registry)
    assert "instance type 'x9.huge'" in finding.message


@pytest.mark.parametrize(("text", "millicores"), [("250m", 250), ("1", 1000), ("0.5", 500), (2, 2000)])
def test_cpu_quantities(text: Any, millicores: float) -> None:
    assert cpu_millicores(text) == millicores


@pytest.mark.parametrize(("text", "mib"), [("512Mi", 512), ("1Gi", 1024), ("1G", 1e9 / 2**20), ("64Ki", 1 / 16)])
def test_memory_quantities(text: str, mib: float) -> None:
    assert memory_mebibytes(text) == pytest.approx(mib)
