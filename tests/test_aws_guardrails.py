"""The AWS guardrails as documents: the SCPs on the cell OUs (what they deny, whom they exempt, how
large they are), checked with the request each real principal would make."""

from __future__ import annotations

import json
import string

from hypothesis import given, settings
from hypothesis import strategies as st
from iam_verdicts import denied_by

from cellctl.offline import run_stack
from cells import Registry
from cells.regions import AWS_REGIONS
from components.aws import organization

ACCESS_ROLE = "OrganizationAccountAccessRole"
CELL_ACCOUNT = "512345678901"
#: What `aws:PrincipalArn` is for a session of each role (the role's ARN, never the session's).
ACCESS = {"aws:PrincipalArn": f"arn:aws:iam::{CELL_ACCOUNT}:role/{ACCESS_ROLE}"}
DEPLOYER = {"aws:PrincipalArn": f"arn:aws:iam::{CELL_ACCOUNT}:role/alpha-deployer"}
SSO_PATH = "aws-reserved/sso.amazonaws.com"
SSO_ADMIN = {"aws:PrincipalArn": f"arn:aws:iam::{CELL_ACCOUNT}:role/{SSO_PATH}/AWSReservedSSO_admin_0123456789abcdef"}
OTHER_ROLE = {"aws:PrincipalArn": f"arn:aws:iam::{CELL_ACCOUNT}:role/someone-else"}


class TestRegionDeny:
    def test_exempts_exactly_control_towers_published_list(self) -> None:
        (statement,) = json.loads(organization.region_guardrail_policy(["eu-west-1"]))["Statement"]
        assert statement["NotAction"] == list(organization.CONTROL_TOWER_REGION_DENY_EXEMPT)
        exempt = organization.CONTROL_TOWER_REGION_DENY_EXEMPT
        assert len(exempt) == len(set(exempt)) == 86
        # Spot checks against the published document: its first, last and a few easily mistyped entries.
        assert exempt[0] == "a4b:*" and exempt[-1] == "wafv2:*"
        for action in ("cloudtrail:LookupEvents", "quicksight:DescribeAccountSubscription", "tag:GetResources"):
            assert action in exempt
        # Entries the list used to carry that Control Tower does not exempt.
        assert "wellarchitected:*" not in exempt

    def test_regional_services_stay_denied_outside_the_allowed_regions(self) -> None:
        scp = organization.region_guardrail_policy(["eu-west-1"])
        regional = ("eks:CreateCluster", "ec2:RunInstances", "oam:CreateLink", "logs:CreateLogGroup", "s3:PutObject")
        for action in regional:
            assert denied_by(scp, action, {"aws:RequestedRegion": "ap-south-1"}), action
            assert not denied_by(scp, action, {"aws:RequestedRegion": "eu-west-1"}), action
        for action in ("iam:CreateRole", "sts:AssumeRole", "sso:ListInstances", "kms:Decrypt", "route53:GetChange"):
            assert not denied_by(scp, action, {"aws:RequestedRegion": "ap-south-1"}), action


class TestDeployerExemptions:
    """Honeycomb's deployments run as the access role (every `pulumi up`) or the deployer role."""

    def test_only_deployments_change_or_delete_the_observability_link(self) -> None:
        scp = organization.cell_guardrail_policy(ACCESS_ROLE)
        for action in ("oam:UpdateLink", "oam:DeleteLink"):
            assert not denied_by(scp, action, ACCESS)
            assert not denied_by(scp, action, DEPLOYER)
            assert denied_by(scp, action, SSO_ADMIN)
            assert denied_by(scp, action, OTHER_ROLE)

    def test_nobody_is_exempt_from_the_trail_the_organization_and_root(self) -> None:
        scp = organization.cell_guardrail_policy(ACCESS_ROLE)
        assert denied_by(scp, "cloudtrail:StopLogging", ACCESS)
        assert denied_by(scp, "organizations:LeaveOrganization", ACCESS)

    def test_exempt_roles_are_the_real_access_and_deployer_roles(self, registry: Registry) -> None:
        """The patterns match the role ARNs a real cell stack creates and assumes (path `/`, no session part)."""
        plan = run_stack("cell-alpha", registry)
        deployer = plan.one("aws:iam/role:Role", "alpha-deployer").outputs["arn"]
        provider = plan.one("pulumi:providers:aws", "alpha-aws")
        (assumed,) = json.loads(provider.inputs["assumeRoles"])
        scp = organization.cell_guardrail_policy(registry.organization.aws.access_role_name)
        for principal in (deployer, assumed["roleArn"]):
            assert not denied_by(scp, "oam:DeleteLink", {"aws:PrincipalArn": principal}), principal
        read_only = plan.one("aws:iam/role:Role", "alpha-read-only").outputs["arn"]
        assert denied_by(scp, "oam:DeleteLink", {"aws:PrincipalArn": read_only})


class TestProtections:
    SCP = organization.cell_protection_policy(ACCESS_ROLE)

    def test_honeycomb_roles_change_only_through_deployments(self) -> None:
        for role in (ACCESS_ROLE, "alpha-deployer", "alpha-read-only", "alpha-flow-logs"):
            arn = f"arn:aws:iam::{CELL_ACCOUNT}:role/{role}"
            for action in ("iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRole", "iam:PutRolePolicy"):
                assert denied_by(self.SCP, action, SSO_ADMIN, arn), (role, action)
                assert not denied_by(self.SCP, action, ACCESS, arn), (role, action)
        # Nobody else may create a role that would pass for a deployer.
        assert denied_by(self.SCP, "iam:CreateRole", SSO_ADMIN, f"arn:aws:iam::{CELL_ACCOUNT}:role/x-deployer")
        # Other roles stay the account administrators' business.
        assert not denied_by(self.SCP, "iam:DeleteRole", SSO_ADMIN, f"arn:aws:iam::{CELL_ACCOUNT}:role/team-app")

    def test_flow_logs_and_log_groups(self) -> None:
        flow_logs = f"arn:aws:logs:us-east-1:{CELL_ACCOUNT}:log-group:/honeycomb/alpha/vpc-flow-logs:*"
        eks_logs = f"arn:aws:logs:us-east-1:{CELL_ACCOUNT}:log-group:/aws/eks/alpha/cluster"
        for group in (flow_logs, eks_logs):
            for action in ("logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy"):
                assert denied_by(self.SCP, action, SSO_ADMIN, group), (group, action)
                assert not denied_by(self.SCP, action, ACCESS, group), (group, action)
        app_logs = f"arn:aws:logs:us-east-1:{CELL_ACCOUNT}:log-group:/app/api"
        assert not denied_by(self.SCP, "logs:DeleteLogGroup", SSO_ADMIN, app_logs)
        assert denied_by(self.SCP, "ec2:DeleteFlowLogs", SSO_ADMIN, "*")
        assert not denied_by(self.SCP, "ec2:DeleteFlowLogs", ACCESS, "*")


class TestSizes:
    def test_the_sample_scps_fit_and_are_compact(self, registry: Registry) -> None:
        aws_org = registry.organization.aws
        policies = organization.service_control_policies(aws_org.allowed_regions, aws_org.access_role_name)
        assert set(policies) == {"regions", "guardrails", "protections"}
        for content, _ in policies.values():
            assert len(content) <= organization.MAX_SCP_CHARS
            assert not any(c in string.whitespace for c in content.replace(" ", "")), "no newlines or tabs"
            assert json.loads(content)["Version"] == "2012-10-17"
            assert all(s["Sid"].isalnum() for s in json.loads(content)["Statement"])

    @settings(max_examples=60, deadline=None)
    @given(
        regions=st.lists(st.sampled_from(sorted(AWS_REGIONS)), min_size=1, unique=True),
        role=st.text(alphabet=string.ascii_letters + string.digits + "+=,.@_-", min_size=1, max_size=64),
    )
    def test_every_scp_fits_for_any_regions_and_access_role(self, regions: list[str], role: str) -> None:
        """All of AWS's regions and a 64-character access role name still fit."""
        for key, (content, _) in organization.service_control_policies(regions, role).items():
            assert len(content) <= organization.MAX_SCP_CHARS, key

    def test_an_scp_that_outgrows_the_limit_is_an_error(self, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        monkeypatch.setattr(organization, "MAX_SCP_CHARS", 1000)
        try:
            organization.service_control_policies(["us-east-1"], ACCESS_ROLE)
        except ValueError as exc:
            assert "'regions' has" in str(exc) and "split it" in str(exc)
        else:
            raise AssertionError("an oversized SCP was accepted")
