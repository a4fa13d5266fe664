"""An AWS cell's cluster as EKS would take it: network policies enforced by the VPC CNI add-on, an
explicit key policy on the secrets key, deletion protection in prod, and access entries for the
IAM Identity Center roles people sign in with."""

from __future__ import annotations

import json
import re

import pulumi_aws
import pytest
from iam_verdicts import allowed_by

from cellctl.mocks import CloudMocks, fake_account_id
from cellctl.mocks import aws as aws_mocks
from cellctl.offline import StackPlan, run_program, run_stack
from cells import AwsCell, Environment, Registry
from components.aws import cluster as cluster_mod
from components.aws import sso_access
from stacks.identity_center import permission_sets_of

AWS_CELLS = ["staging", "alpha", "gamma", "dev-jdoe"]
ADDON = "aws:eks/addon:Addon"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
SSO_ARN = re.compile(
    r"^arn:aws:iam::(\d{12}):role/aws-reserved/sso\.amazonaws\.com/([a-z0-9-]+/)?AWSReservedSSO_([a-z-]+)_[0-9a-f]{16}$"
)
_PLANS: dict[str, StackPlan] = {}


@pytest.fixture(params=AWS_CELLS)
def cell(request: pytest.FixtureRequest, registry: Registry) -> AwsCell:
    found = registry.cell(request.param)
    assert isinstance(found, AwsCell)
    return found


@pytest.fixture
def plan(registry: Registry, cell: AwsCell) -> StackPlan:
    if cell.name not in _PLANS:
        _PLANS[cell.name] = run_stack(f"cell-{cell.name}", registry)
    return _PLANS[cell.name]


# --- network policies ----------------------------------------------------------------------------


def test_the_vpc_cni_enforces_network_policies_before_nodes_join(plan: StackPlan, cell: AwsCell) -> None:
    cni = plan.one(ADDON, f"{cell.name}-vpc-cni")
    assert cni.inputs["addonName"] == "vpc-cni"
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert cni.inputs["resolveConflictsOnCreate"] == "OVERWRITE"
    assert cni.inputs["resolveConflictsOnUpdate"] == "OVERWRITE"
    assert "addonVersion" not in cni.inputs  # EKS's default for the cluster version
    eks = plan.one("aws:eks/cluster:Cluster")
    assert cni.inputs["clusterName"] == eks.outputs["name"]
    assert cluster_mod.kubernetes_version(eks.inputs["version"]) >= cluster_mod.NETWORK_POLICY_MIN_VERSION
    assert cni.urn in plan.one("aws:eks/nodeGroup:NodeGroup").depends_on


@pytest.mark.parametrize(
    ("version", "message"), [("1.24", "cannot enforce NetworkPolicies"), ("latest", "not <major>")]
)
def test_a_cluster_that_cannot_enforce_network_policies_is_refused(
    registry: Registry, version: str, message: str
) -> None:
    def program() -> None:
        provider = pulumi_aws.Provider("p", region="us-east-1")
        nodes = cluster_mod.NodeGroupSize(min=1, desired=1, max=2, instance_type="m6i.large")
        args = cluster_mod.CellClusterArgs(
            cluster_name="x", region="us-east-1", subnet_ids=["subnet-1"], nodes=nodes,
            access_role_arn="arn:aws:iam::111111111111:role/a", version=version,
        )  # fmt: skip
        cluster_mod.CellCluster("x", args, provider=provider)

    with pytest.raises(ValueError, match=message):
        run_program(program, stack="cell-x", mocks=CloudMocks(registry))


# --- the cluster itself ----------------------------------------------------------------------------


def test_deletion_protection_in_prod_only(plan: StackPlan, cell: AwsCell) -> None:
    eks = plan.one("aws:eks/cluster:Cluster")
    assert eks.inputs.get("deletionProtection", False) is (cell.environment is Environment.prod)
    assert eks.inputs["accessConfig"]["authenticationMode"] == "API"


def test_the_secrets_key_has_an_explicit_policy_for_its_account_and_cluster(plan: StackPlan, cell: AwsCell) -> None:
    key = plan.one("aws:kms/key:Key", f"{cell.name}-eks")
    cluster_role = plan.one("aws:iam/role:Role", f"{cell.name}-cluster").outputs["arn"]
    account = cell.account_id or fake_account_id(cell.name)
    policy = key.inputs["policy"]
    root, uses = json.loads(policy)["Statement"]
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"} and root["Action"] == "kms:*"
    assert uses["Principal"] == {"AWS": cluster_role}
    assert allowed_by(json.dumps({"Statement": [uses]}), "kms:Decrypt", {})
    assert not allowed_by(json.dumps({"Statement": [uses]}), "kms:ScheduleKeyDeletion", {})
    assert plan.one("aws:eks/cluster:Cluster").inputs["encryptionConfig"]["provider"]["keyArn"] == key.outputs["arn"]


# --- Identity Center roles in the cluster ---------------------------------------------------------


def test_every_assigned_permission_set_gets_its_cluster_access(
    plan: StackPlan, cell: AwsCell, registry: Registry
) -> None:
    account = cell.account_id or fake_account_id(cell.name)
    entries = {e.name.removeprefix(f"{cell.name}-sso-"): e for e in plan.of_type(ENTRY) if "-sso-" in e.name}
    assert sorted(entries) == permission_sets_of(registry, cell) != []
    associations = {a.name.removeprefix(f"{cell.name}-sso-"): a for a in plan.of_type(ASSOCIATION) if "-sso-" in a.name}
    namespaces = sorted(c.name for c in registry.organization.components)
    for permission_set, entry in entries.items():
        match = SSO_ARN.match(entry.inputs["principalArn"])
        assert match is not None, entry.inputs["principalArn"]
        assert match[1] == account and match[3] == permission_set
        assert entry.inputs["type"] == "STANDARD"
        association = associations[permission_set]
        assert association.inputs["principalArn"] == entry.inputs["principalArn"]
        scope = association.inputs["accessScope"]
        if permission_set == "cell-operator":
            assert association.inputs["policyArn"] == cluster_mod.EDIT_ACCESS_POLICY
            assert scope == {"type": "namespace", "namespaces": namespaces}
        elif permission_set == "admin":
            assert association.inputs["policyArn"] == cluster_mod.ADMIN_ACCESS_POLICY
            assert scope == {"type": "cluster"}
        else:
            assert association.inputs["policyArn"] == cluster_mod.VIEW_ACCESS_POLICY
            assert scope == {"type": "cluster"}


def test_a_dev_cell_has_no_cell_operator_entry(registry: Registry) -> None:
    dev = registry.cell("dev-jdoe")
    assert isinstance(dev, AwsCell)
    assert permission_sets_of(registry, dev) == ["admin", "read-only"]


def test_identity_center_outside_us_east_1_adds_the_region_to_the_path(registry: Registry) -> None:
    aws_org = registry.organization.aws
    regions = ["eu-west-1", *[r for r in aws_org.allowed_regions if r != "eu-west-1"]]
    moved = registry.model_copy(
        update={
            "organization": registry.organization.model_copy(
                update={"aws": aws_org.model_copy(update={"allowed_regions": regions})}
            )
        }
    )
    plan = run_stack("cell-staging", moved)
    arns = [e.inputs["principalArn"] for e in plan.of_type(ENTRY) if "-sso-" in e.name]
    assert arns and all("/sso.amazonaws.com/eu-west-1/AWSReservedSSO_" in arn for arn in arns)


def test_a_missing_role_says_to_run_the_management_stack_first(registry: Registry, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(aws_mocks, "identity_center_roles", lambda ctx: [])
    with pytest.raises(Exception, match=r"no role for the permission set .*pulumi up --stack management"):
        run_stack("cell-staging", registry)


def test_one_role_per_permission_set() -> None:
    assert sso_access.single_role(["arn:a"], "admin", "alpha") == "arn:a"
    with pytest.raises(sso_access.IdentityCenterRoleError, match="several roles"):
        sso_access.single_role(["arn:a", "arn:b"], "admin", "alpha")
    regex = re.compile(sso_access.role_name_regex("read-only"))
    assert regex.search("AWSReservedSSO_read-only_0123456789abcdef")
    assert not regex.search("AWSReservedSSO_read-only-x_0123456789abcdef")
    assert not regex.search("AWSReservedSSO_read-only_0123")
