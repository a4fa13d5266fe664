"""Rules 2-4: cell isolation, no cross-cell references, allowed regions."""

from __future__ import annotations

import json

import pytest

from cells import Registry
from policies.isolation import cell_isolation, no_cross_cell_references
from policies.placement import allowed_regions
from policies.testing import Stack, eks_kubeconfig, gke_kubeconfig

ALPHA = "210987654321"
DNS_ROLE = "honeycomb-dns-delegation"


def test_cell_provider_passes(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    provider = stack.aws_provider("alpha", account=ALPHA)
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {}, provider=provider)
    assert stack.findings(registry, cell_isolation) == []


def test_default_provider_fires(registry: Registry) -> None:
    stack = Stack("cell-alpha", config={"pulumi:disable-default-providers": '["*"]'})
    vpc = stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {})
    [finding] = stack.findings(registry, cell_isolation)
    assert finding.urn == vpc.urn
    assert "uses a default provider, which this stack's config disables" in finding.message


def test_unconfigured_default_provider_fires(registry: Registry) -> None:
    stack = Stack("cell-alpha", config={"aws:region": "us-east-1"})
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {})
    [finding] = stack.findings(registry, cell_isolation)
    assert "the default aws provider (configured by the stack config's aws:* keys)" in finding.message
    assert "whose account cannot be established" in finding.message


@pytest.mark.parametrize(
    "config",
    [
        {"aws:region": "us-east-1", "aws:assumeRoles": json.dumps([{"roleArn": f"arn:aws:iam::{ALPHA}:role/x"}])},
        {"aws:region": "us-east-1", "aws:assumeRole": json.dumps({"role_arn": f"arn:aws:iam::{ALPHA}:role/x"})},
        {"aws:region": "us-east-1", "aws:allowedAccountIds": json.dumps([ALPHA])},
    ],
)
def test_default_provider_configured_from_stack_config_is_read_like_an_explicit_one(
    registry: Registry, config: dict[str, str]
) -> None:
    stack = Stack("cell-alpha", config=config)
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {})
    assert stack.findings(registry, cell_isolation) == []
    # The same settings pointing at another account fire.
    wrong = {k: v.replace(ALPHA, "100000000001") for k, v in config.items()}
    stack.config = wrong
    [finding] = stack.findings(registry, cell_isolation)
    assert "the management account (100000000001)" in finding.message


@pytest.mark.parametrize(
    "roles",
    [
        [{"roleArn": f"arn:aws:iam::{ALPHA}:role/x"}],  # typed args: camelCase
        [{"role_arn": f"arn:aws:iam::{ALPHA}:role/x", "session_name": "s"}],  # a plain dict in Python spelling
    ],
)
def test_every_spelling_of_assume_roles_is_read(registry: Registry, roles: list[dict[str, str]]) -> None:
    stack = Stack("cell-alpha")
    provider = stack.add("pulumi:providers:aws", "alpha", {"region": "us-east-1", "assumeRoles": json.dumps(roles)})
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {}, provider=provider)
    assert stack.findings(registry, cell_isolation) == []
    wrong = json.dumps(roles).replace(ALPHA, "100000000002")
    other = stack.add("pulumi:providers:aws", "other", {"region": "us-east-1", "assumeRoles": wrong})
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc2", {}, provider=other)
    [finding] = stack.findings(registry, cell_isolation)
    assert "the monitoring account (100000000002)" in finding.message


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        (
            {"assumeRoles": json.dumps([{"RoleARN": f"arn:aws:iam::{ALPHA}:role/x"}])},
            "entry has no roleArn (it has RoleARN)",
        ),
        ({"assumeRoles": "[{roleArn: broken"}, "which is not a JSON object or list"),
        ({"assumeRoles": json.dumps(["arn:aws:iam::210987654321:role/x"])}, "not an object with a roleArn"),
        ({"assumeRoles": json.dumps([{"roleArn": "OrganizationAccountAccessRole"}])}, "is not an IAM role ARN"),
        ({"allowedAccountIds": json.dumps(["alpha"])}, "not a 12-digit account id"),
    ],
)
def test_a_provider_of_unknown_shape_cannot_be_verified(registry: Registry, settings: dict[str, str], why: str) -> None:
    stack = Stack("cell-alpha")
    provider = stack.add("pulumi:providers:aws", "alpha", {"region": "us-east-1", **settings})
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {}, provider=provider)
    [finding] = stack.findings(registry, cell_isolation)
    assert "cannot verify the target of provider 'alpha'" in finding.message
    assert why in finding.message


def test_a_provider_without_region_fires(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    provider = stack.add("pulumi:providers:aws", "alpha", {"allowedAccountIds": json.dumps([ALPHA])})
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {}, provider=provider)
    [finding] = stack.findings(registry, cell_isolation)
    assert "names no region" in finding.message


def test_gcp_provider_without_project_or_region_fires(registry: Registry) -> None:
    stack = Stack("cell-beta")
    no_project = stack.add("pulumi:providers:gcp", "a", {"region": "europe-west1"})
    no_region = stack.add("pulumi:providers:gcp", "b", {"project": "acme-cell-beta"})
    zoned = stack.add("pulumi:providers:gcp", "c", {"project": "acme-cell-beta", "zone": "europe-west1-b"})
    stack.add("gcp:compute/network:Network", "beta-a", {}, provider=no_project)
    stack.add("gcp:compute/network:Network", "beta-b", {}, provider=no_region)
    stack.add("gcp:compute/network:Network", "beta-c", {}, provider=zoned)
    found = {f.name: f.message for f in stack.findings(registry, cell_isolation)}
    assert set(found) == {"beta-a", "beta-b"}
    assert "project (none: the ambient default)" in found["beta-a"]
    assert "names no region or zone" in found["beta-b"]


def test_another_cells_account_fires(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    wrong = stack.aws_provider("wrong", account="100000000001")
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {}, provider=wrong)
    [finding] = stack.findings(registry, cell_isolation)
    assert "the management account (100000000001), not cell alpha's account 210987654321" in finding.message


def test_unpinned_cell_uses_known_account_ids(registry: Registry) -> None:
    stack = Stack("cell-gamma")
    own = stack.aws_provider("gamma", account="512345678901", region="eu-west-1")
    alpha = stack.aws_provider("alpha", account=ALPHA)
    stack.add("aws:ec2/vpc:Vpc", "gamma-vpc", {}, provider=own)
    stack.add("aws:ec2/vpc:Vpc", "gamma-vpc2", {}, provider=alpha)
    # Without the management stack's account ids only other cells' known accounts are caught.
    assert [f.name for f in stack.findings(registry, cell_isolation)] == ["gamma-vpc2"]
    found = stack.findings(registry, cell_isolation, account_ids={"gamma": "599999999999"})
    assert [f.name for f in found] == ["gamma-vpc", "gamma-vpc2"]


def test_delegation_provider_only_writes_the_ns_record(registry: Registry) -> None:
    stack = Stack("cell-beta")
    dns = stack.aws_provider("beta-dns", account="100000000003", role=DNS_ROLE)
    stack.add("aws:route53/record:Record", "beta-ns", {"type": "NS"}, provider=dns)
    assert stack.findings(registry, cell_isolation) == []
    zone = stack.add("aws:route53/zone:Zone", "beta-zone", {}, provider=dns)
    [finding] = stack.findings(registry, cell_isolation)
    assert finding.urn == zone.urn
    assert "may only write the cell's NS record" in finding.message


def test_gcp_provider_on_another_project_fires(registry: Registry) -> None:
    stack = Stack("cell-beta")
    own = stack.gcp_provider("beta", project="acme-cell-beta")
    other = stack.gcp_provider("other", project="acme-cell-zeta")
    stack.add("gcp:compute/network:Network", "beta-vpc", {}, provider=own)
    bad = stack.add("gcp:compute/subnetwork:Subnetwork", "beta-subnet", {}, provider=other)
    [finding] = stack.findings(registry, cell_isolation)
    assert finding.urn == bad.urn
    assert "project acme-cell-zeta, not cell beta's project acme-cell-beta" in finding.message


def test_gcp_resource_overriding_the_project_fires(registry: Registry) -> None:
    stack = Stack("cell-beta")
    own = stack.gcp_provider("beta", project="acme-cell-beta")
    stack.add("gcp:projects/iAMMember:IAMMember", "ok", {"project": "acme-cell-beta"}, provider=own)
    assert stack.findings(registry, cell_isolation) == []
    bad = stack.add("gcp:projects/iAMMember:IAMMember", "far", {"project": "acme-cells-monitoring"}, provider=own)
    [finding] = stack.findings(registry, cell_isolation)
    assert finding.urn == bad.urn
    assert "sets project acme-cells-monitoring, not cell beta's project acme-cell-beta" in finding.message


def test_kubernetes_needs_an_explicit_provider(registry: Registry) -> None:
    stack = Stack("cell-beta", config={"pulumi:disable-default-providers": '["*"]'})
    k8s = stack.kubernetes_provider("beta-k8s", gke_kubeconfig("acme-cell-beta", "europe-west1", "beta-gke"))
    stack.add("kubernetes:core/v1:Namespace", "api", {}, provider=k8s)
    assert stack.findings(registry, cell_isolation) == []
    stack.add("kubernetes:core/v1:Namespace", "web", {})
    assert [f.name for f in stack.findings(registry, cell_isolation)] == ["web"]


@pytest.mark.parametrize(
    ("stack_name", "kubeconfig", "fires"),
    [
        ("cell-alpha", eks_kubeconfig("alpha", "us-east-1", f"arn:aws:iam::{ALPHA}:role/x"), None),
        ("cell-beta", gke_kubeconfig("acme-cell-beta", "europe-west1", "beta-gke"), None),
        ("cell-alpha", eks_kubeconfig("gamma", "us-east-1", f"arn:aws:iam::{ALPHA}:role/x"), "cluster 'gamma'"),
        ("cell-alpha", eks_kubeconfig("alpha", "eu-west-1", f"arn:aws:iam::{ALPHA}:role/x"), "in eu-west-1"),
        ("cell-alpha", eks_kubeconfig("alpha", "us-east-1", "arn:aws:iam::100000000001:role/x"), "management account"),
        ("cell-alpha", eks_kubeconfig("alpha", "us-east-1", None), "cannot verify"),
        ("cell-beta", gke_kubeconfig("acme-cell-zeta", "europe-west1", "beta-gke"), "project acme-cell-zeta"),
        ("cell-beta", eks_kubeconfig("beta", "europe-west1", None), "cannot verify"),
        ("cell-alpha", gke_kubeconfig("acme-cell-beta", "europe-west1", "alpha"), "a GKE cluster"),
        ("cell-alpha", None, "ambient ~/.kube/config"),
        ("cell-alpha", "~/.kube/config", "kubeconfig is a file path"),
        ("cell-alpha", "{not: json", "the kubeconfig does not parse"),
    ],
)
def test_a_cells_kubernetes_provider_targets_its_own_cluster(
    registry: Registry, stack_name: str, kubeconfig: str | None, fires: str | None
) -> None:
    stack = Stack(stack_name)
    k8s = stack.kubernetes_provider("k8s", kubeconfig)
    stack.add("kubernetes:core/v1:Namespace", "ns", {}, provider=k8s)
    found = stack.findings(registry, cell_isolation)
    if fires is None:
        assert found == []
    else:
        [finding] = found
        assert fires in finding.message


def test_management_stack_is_not_a_cell(registry: Registry) -> None:
    stack = Stack("management")
    stack.add("aws:organizations/account:Account", "alpha", {})
    assert stack.findings(registry, cell_isolation) == []


def test_cross_cell_references(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    provider = stack.aws_provider("alpha", account=ALPHA)
    stack.add("aws:route53/zone:Zone", "alpha-zone", {"name": "alpha.cells.acme-corp.net"}, provider=provider)
    stack.add("aws:iam/role:Role", "alpha-ci", {"assumeRolePolicy": "arn:aws:iam::100000000001:role/ci"})
    assert stack.findings(registry, no_cross_cell_references) == []
    bad = stack.add(
        "aws:iam/policy:Policy",
        "alpha-peek",
        {
            "policy": {
                "Statement": [{"Resource": ["projects/acme-cell-beta/topics/events", "gamma.cells.acme-corp.net"]}]
            }
        },
    )
    found = stack.findings(registry, no_cross_cell_references, account_ids={"gamma": "512345678901"})
    assert {f.urn for f in found} == {bad.urn}
    messages = " ".join(f.message for f in found)
    assert "cell beta's project id (acme-cell-beta)" in messages
    assert "cell gamma's DNS zone (gamma.cells.acme-corp.net)" in messages
    assert "policy.Statement[0].Resource[1]" in messages


def test_another_cells_account_id_in_an_input_fires(registry: Registry) -> None:
    stack = Stack("cell-gamma")
    stack.add("aws:iam/role:Role", "gamma-trust", {"assumeRolePolicy": f"arn:aws:iam::{ALPHA}:root"})
    [finding] = stack.findings(registry, no_cross_cell_references)
    assert f"cell alpha's account id ({ALPHA})" in finding.message


def test_stack_references(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add("pulumi:pulumi:StackReference", "mgmt", {"name": "acme/honeycomb/management"})
    stack.add("pulumi:pulumi:StackReference", "self", {"name": "cell-alpha"})
    assert stack.findings(registry, no_cross_cell_references) == []
    bad = stack.add("pulumi:pulumi:StackReference", "peek", {"name": "acme/honeycomb/cell-gamma"})
    unknown_cell = stack.add("pulumi:pulumi:StackReference", "peek2", {"name": "cell-omega"})
    odd = stack.add("pulumi:pulumi:StackReference", "odd", {"name": 42})
    found = stack.findings(registry, no_cross_cell_references)
    assert [f.urn for f in found] == [bad.urn, unknown_cell.urn, odd.urn]
    assert "reads stack acme/honeycomb/cell-gamma, another cell's stack" in found[0].message
    assert "cannot verify which stack" in found[2].message


def test_allowed_regions(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.aws_provider("alpha", account=ALPHA, region="us-east-1")
    stack.gcp_provider("beta", project="acme-cell-beta", region="europe-west1")
    stack.add("gcp:container/cluster:Cluster", "ok-zone", {"location": "europe-west1-b"})
    stack.add("gcp:storage/bucket:Bucket", "multi", {"location": "EU"})
    assert stack.findings(registry, allowed_regions) == []
    bad_provider = stack.aws_provider("tokyo", account=ALPHA, region="ap-northeast-1")
    bad_resource = stack.add("gcp:compute/subnetwork:Subnetwork", "asia", {"region": "asia-east1"})
    bad_override = stack.add("aws:s3/bucket:Bucket", "far", {"region": "sa-east-1"})
    found = stack.findings(registry, allowed_regions)
    assert [f.urn for f in found] == [bad_provider.urn, bad_resource.urn, bad_override.urn]
    assert "AWS region ap-northeast-1; allowed: us-east-1, us-west-2, eu-west-1" in found[0].message
    assert "GCP region asia-east1" in found[1].message


def test_a_default_providers_region_comes_from_the_stack_config(registry: Registry) -> None:
    stack = Stack("cell-alpha", config={"aws:region": "us-east-1"})
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {})
    assert stack.findings(registry, allowed_regions) == []
    stack.config = {"aws:region": "ap-northeast-1"}
    [finding] = stack.findings(registry, allowed_regions)
    assert "AWS region ap-northeast-1" in finding.message
    stack.config = {"aws:region": "[1]"}
    assert "cannot verify" in stack.findings(registry, allowed_regions)[0].message


def test_a_kubeconfig_unknown_during_a_preview_is_skipped(registry: Registry) -> None:
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    stack = Stack("cell-alpha")
    k8s = stack.kubernetes_provider("k8s", UNKNOWN_STRING_VALUE)
    stack.add("kubernetes:core/v1:Namespace", "ns", {}, provider=k8s)
    assert stack.findings(registry, cell_isolation) == []
