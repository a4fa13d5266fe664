"""Rules 2-4: cell isolation, no cross-cell references, allowed regions."""

from __future__ import annotations

from cells import Registry
from policies.isolation import cell_isolation, no_cross_cell_references
from policies.placement import allowed_regions
from policies.testing import Stack

ALPHA = "210987654321"
DNS_ROLE = "honeycomb-dns-delegation"


def test_cell_provider_passes(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    provider = stack.aws_provider("alpha", account=ALPHA)
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {}, provider=provider)
    assert stack.findings(registry, cell_isolation) == []


def test_default_provider_fires(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    vpc = stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {})
    [finding] = stack.findings(registry, cell_isolation)
    assert finding.urn == vpc.urn
    assert "default provider" in finding.message


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
    stack = Stack("cell-beta")
    k8s = stack.add("pulumi:providers:kubernetes", "beta-k8s", {"kubeconfig": "..."})
    stack.add("kubernetes:core/v1:Namespace", "api", {}, provider=k8s)
    assert stack.findings(registry, cell_isolation) == []
    stack.add("kubernetes:core/v1:Namespace", "web", {})
    assert [f.name for f in stack.findings(registry, cell_isolation)] == ["web"]


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
