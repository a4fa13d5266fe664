"""The AWS guardrails as documents: the SCPs on the cell OUs (what they deny, whom they exempt, how
large they are) and the CI role (who may become it, what it may assume), checked with the request
each real principal would make."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iam_verdicts import allowed_by, denied_by, trusts
from typer.testing import CliRunner

from cellctl.main import app
from cellctl.offline import PlannedResource, StackPlan, run_stack
from cellctl.plan import plan_stack
from cells import Registry
from cells.models import GithubActions
from cells.regions import AWS_REGIONS
from components.aws import audit_trail, identity, organization
from stacks import ci_identity, management

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


# --- the CI role -------------------------------------------------------------------------------

MGMT = "100000000001"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def provider_name(plan: StackPlan, resource: PlannedResource) -> str:
    return next(r.name for r in plan.resources if r.urn == resource.provider)


def without_github(registry: Registry) -> Registry:
    aws_org = registry.organization.aws.model_copy(update={"github_actions": None})
    return registry.model_copy(update={"organization": registry.organization.model_copy(update={"aws": aws_org})})


class TestCiPrincipals:
    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ('["*"]', "is a wildcard"),
            (f'["arn:aws:iam::{MGMT}:role/*"]', "is a wildcard"),
            (f'["arn:aws:iam::{MGMT}:root"]', "not the ARN of an IAM role or user"),
            ('["runner"]', "not the ARN of an IAM role or user"),
            ('["arn:aws:iam::999999999999:role/runner"]', "which the registry does not name"),
            ('["arn:aws:iam::210987654321:role/runner"]', "which the registry does not name"),  # a cell's account
            ("[]", "non-empty JSON list"),
            ('"arn:aws:iam::100000000001:role/runner"', "non-empty JSON list"),
        ],
    )
    def test_anything_but_named_principals_is_refused_naming_the_setting(
        self, registry: Registry, value: str, message: str
    ) -> None:
        with pytest.raises(ci_identity.CiConfigError, match=message) as caught:
            run_stack("management", registry, config={"ciPrincipalArns": value})
        assert "honeycomb:ciPrincipalArns" in str(caught.value)

    def test_named_roles_and_users_of_the_named_accounts(self, registry: Registry) -> None:
        arns = [f"arn:aws:iam::{MGMT}:role/ci/runner", "arn:aws:iam::100000000003:user/deploy-bot"]
        assert ci_identity.parse_principals(json.dumps(arns), registry) == tuple(sorted(arns))

    def test_nobody_to_trust_is_an_error_in_the_plan(self, registry: Registry) -> None:
        """Without GitHub Actions and without principals the management stack cannot be planned."""
        result = plan_stack("management", without_github(registry))
        assert result.error is not None
        assert "aws.github_actions.repository" in result.error and "honeycomb:ciPrincipalArns" in result.error

    def test_named_principals_alone_are_enough(self, registry: Registry) -> None:
        arn = f"arn:aws:iam::{MGMT}:role/runner"
        plan = run_stack("management", without_github(registry), config={"ciPrincipalArns": json.dumps([arn])})
        statements = json.loads(plan.one(ROLE, "ci-role").inputs["assumeRolePolicy"])["Statement"]
        # The named principal, and Pulumi Deployments (the registry's pulumi_deployments); no GitHub.
        assert [s["Sid"] for s in statements] == ["NamedPrincipals", "PulumiDeployments"]
        assert statements[0]["Principal"] == {"AWS": [arn]}
        # CI's own providers (each GKE cell's DNS-01 role has one of its own: `components.aws.acme_dns`).
        [oidc] = [
            r for r in plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") if r.name.startswith("ci-")
        ]
        assert oidc.inputs["url"] == "https://api.pulumi.com/oidc"


class TestGithubActionsTrust:
    PROVIDER = f"arn:aws:iam::{MGMT}:oidc-provider/token.actions.githubusercontent.com"

    @staticmethod
    def token(sub: str, aud: str = "sts.amazonaws.com") -> dict[str, str]:
        return {"token.actions.githubusercontent.com:sub": sub, "token.actions.githubusercontent.com:aud": aud}

    def test_the_plan_creates_githubs_provider_and_trusts_it(self, registry: Registry) -> None:
        plan = run_stack("management", registry)
        oidc = plan.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "ci-github")
        assert oidc.inputs["url"] == "https://token.actions.githubusercontent.com"
        assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
        assert oidc.outputs["arn"] == self.PROVIDER
        trust = plan.one(ROLE, "ci-role").inputs["assumeRolePolicy"]
        action = "sts:AssumeRoleWithWebIdentity"
        assert trusts(trust, self.PROVIDER, action, self.token("repo:acme/honeycomb:environment:prod"))
        assert trusts(trust, self.PROVIDER, action, self.token("repo:acme/honeycomb:environment:preprod"))
        # The sample's deploy jobs all run in environments: a job on main outside one gets no role.
        assert not trusts(trust, self.PROVIDER, action, self.token("repo:acme/honeycomb:ref:refs/heads/main"))

    def test_only_the_repositorys_listed_refs_with_the_sts_audience(self) -> None:
        github = identity.GithubTrust("acme/honeycomb", ("ref:refs/heads/main", "environment:prod"))
        trust = identity.ci_trust_policy([], github, self.PROVIDER)
        action = "sts:AssumeRoleWithWebIdentity"
        assert trusts(trust, self.PROVIDER, action, self.token("repo:acme/honeycomb:ref:refs/heads/main"))
        assert trusts(trust, self.PROVIDER, action, self.token("repo:acme/honeycomb:environment:prod"))
        for sub in (
            "repo:acme/honeycomb:ref:refs/heads/feature",
            "repo:acme/honeycomb:pull_request",
            "repo:acme/honeycomb-fork:ref:refs/heads/main",
            "repo:evil/honeycomb:ref:refs/heads/main",
        ):
            assert not trusts(trust, self.PROVIDER, action, self.token(sub)), sub
        assert not trusts(trust, self.PROVIDER, action, self.token("repo:acme/honeycomb:ref:refs/heads/main", "x"))
        assert not trusts(trust, self.PROVIDER, "sts:AssumeRole", self.token("repo:acme/honeycomb:ref:refs/heads/main"))

    def test_registry_refuses_a_bare_wildcard_subject(self, registry: Registry) -> None:
        with pytest.raises(ValueError, match="subjects"):
            GithubActions(repository="acme/honeycomb", subjects=["*"])


class TestCiAssumes:
    PATHS = ["o-abc/r-ab12/ou-ab12-prod/*", "o-abc/r-ab12/ou-ab12-dev/*"]
    DNS_ROLE = "arn:aws:iam::100000000003:role/honeycomb-dns-delegation"
    ROUTING_ROLE = "arn:aws:iam::100000000003:role/honeycomb-routing"
    POLICY = identity.ci_policy(ACCESS_ROLE, PATHS, DNS_ROLE, ROUTING_ROLE)
    IN_CELL_OU = {"aws:ResourceOrgPaths": ["o-abc/r-ab12/ou-ab12-prod/"]}
    ELSEWHERE = {"aws:ResourceOrgPaths": ["o-abc/r-ab12/"]}

    def test_the_access_and_deployer_roles_of_cell_accounts(self) -> None:
        for role in (ACCESS_ROLE, "alpha-deployer"):
            arn = f"arn:aws:iam::{CELL_ACCOUNT}:role/{role}"
            assert allowed_by(self.POLICY, "sts:AssumeRole", self.IN_CELL_OU, arn), role
            assert not allowed_by(self.POLICY, "sts:AssumeRole", self.ELSEWHERE, arn), role

    def test_no_other_role_and_no_account_outside_the_cell_ous(self) -> None:
        assert not allowed_by(
            self.POLICY, "sts:AssumeRole", self.IN_CELL_OU, f"arn:aws:iam::{CELL_ACCOUNT}:role/alpha-read-only"
        )
        monitoring_access = f"arn:aws:iam::100000000002:role/{ACCESS_ROLE}"
        assert not allowed_by(self.POLICY, "sts:AssumeRole", self.ELSEWHERE, monitoring_access)
        assert allowed_by(self.POLICY, "sts:AssumeRole", self.ELSEWHERE, self.DNS_ROLE)
        assert allowed_by(self.POLICY, "sts:AssumeRole", self.ELSEWHERE, self.ROUTING_ROLE)
        assert not allowed_by(self.POLICY, "sts:TagSession", self.ELSEWHERE, self.ROUTING_ROLE)
        assert not allowed_by(self.POLICY, "iam:CreateRole", self.IN_CELL_OU, "*")

    def test_the_plan_names_every_cell_ou(self, registry: Registry) -> None:
        plan = run_stack("management", registry)
        (policy,) = [p for p in plan.of_type(ROLE_POLICY) if p.name == "ci-assume"]
        (cells, dns, routing) = json.loads(policy.inputs["policy"])["Statement"]
        ous = {r.outputs["id"] for r in plan.of_type("aws:organizations/organizationalUnit:OrganizationalUnit")}
        paths = cells["Condition"]["ForAnyValue:StringLike"]["aws:ResourceOrgPaths"]
        assert len(paths) == len(ous) == 3
        assert {p.split("/")[2] for p in paths} == ous
        assert (
            dns["Resource"] == f"arn:aws:iam::{registry.organization.aws.dns_account_id}:role/honeycomb-dns-delegation"
        )
        assert "arn:aws:iam::*:role/*" not in cells["Resource"]
        assert routing["Resource"] == f"arn:aws:iam::{registry.organization.aws.dns_account_id}:role/honeycomb-routing"


# --- the organization trail --------------------------------------------------------------------

TRAIL = "aws:cloudtrail/trail:Trail"


class TestOrganizationTrail:
    TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/honeycomb-organization"
    ORG = "o-abcdefghij"

    @pytest.fixture(scope="class")
    def plan(self, registry: Registry) -> StackPlan:
        return run_stack("management", registry)

    def test_one_validated_encrypted_multi_region_organization_trail(self, plan: StackPlan, registry: Registry) -> None:
        trail = plan.one(TRAIL)
        assert trail.inputs["isOrganizationTrail"] is True
        assert trail.inputs["isMultiRegionTrail"] is True
        assert trail.inputs["includeGlobalServiceEvents"] is True
        assert trail.inputs["enableLogFileValidation"] is True
        key = plan.one("aws:kms/key:Key", "audit-key")
        assert trail.inputs["kmsKeyId"] == key.outputs["arn"]
        bucket = plan.one("aws:s3/bucket:Bucket", "audit-bucket")
        assert trail.inputs["s3BucketName"] == bucket.outputs["id"] == management.audit_bucket_name(registry)
        assert len(bucket.inputs["bucket"]) <= 63
        # The policies name the trail by the ARN it gets, and the trail waits for them.
        assert trail.outputs["arn"] == self.TRAIL_ARN
        policy = plan.one("aws:s3/bucketPolicy:BucketPolicy", "audit-policy")
        assert policy.urn in trail.depends_on
        assert self.TRAIL_ARN in policy.inputs["policy"] and self.TRAIL_ARN in key.inputs["policy"]
        assert provider_name(plan, trail) == "management"

    def test_the_bucket_is_private_versioned_and_kms_encrypted(self, plan: StackPlan) -> None:
        sse = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        (rule,) = plan.one(sse, "audit-encryption").inputs["rules"]
        default = rule["applyServerSideEncryptionByDefault"]
        assert default["sseAlgorithm"] == "aws:kms"
        assert default["kmsMasterKeyId"] == plan.one("aws:kms/key:Key", "audit-key").outputs["arn"]
        # No S3 Bucket Key: KMS then sees the context the key policy's CloudTrail statements require.
        assert rule["bucketKeyEnabled"] is False
        block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-public-access").inputs
        assert all(
            block[k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        assert plan.one("aws:s3/bucketVersioning:BucketVersioning", "audit-versioning").inputs[
            "versioningConfiguration"
        ] == {"status": "Enabled"}

    def test_cloudtrail_delivers_this_trails_logs_only(self) -> None:
        policy = audit_trail.bucket_policy("logs", self.TRAIL_ARN, MGMT, self.ORG)
        put = {
            "s3:x-amz-acl": "bucket-owner-full-control",
            "aws:SourceArn": self.TRAIL_ARN,
            "aws:SecureTransport": "true",
        }
        service = "cloudtrail.amazonaws.com"
        for prefix in (MGMT, self.ORG):
            assert trusts(policy, service, "s3:PutObject", put, f"arn:aws:s3:::logs/AWSLogs/{prefix}/x.json.gz")
        assert trusts(policy, service, "s3:GetBucketAcl", put, "arn:aws:s3:::logs")
        other_trail = {**put, "aws:SourceArn": f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/other"}
        assert not trusts(policy, service, "s3:PutObject", other_trail, f"arn:aws:s3:::logs/AWSLogs/{MGMT}/x")
        no_acl = {k: v for k, v in put.items() if k != "s3:x-amz-acl"}
        assert not trusts(policy, service, "s3:PutObject", no_acl, f"arn:aws:s3:::logs/AWSLogs/{MGMT}/x")
        assert not trusts(policy, service, "s3:PutObject", put, "arn:aws:s3:::logs/elsewhere/x")
        assert not trusts(policy, service, "s3:DeleteObject", put, f"arn:aws:s3:::logs/AWSLogs/{MGMT}/x")
        plain = {**put, "aws:SecureTransport": "false"}
        assert not trusts(policy, service, "s3:PutObject", plain, f"arn:aws:s3:::logs/AWSLogs/{MGMT}/x")

    def test_the_key_encrypts_for_cloudtrail_and_decrypts_for_the_account(self) -> None:
        policy = audit_trail.key_policy(MGMT, self.TRAIL_ARN)
        context = {"kms:EncryptionContext:aws:cloudtrail:arn": self.TRAIL_ARN, "aws:SourceArn": self.TRAIL_ARN}
        service = "cloudtrail.amazonaws.com"
        assert trusts(policy, service, "kms:GenerateDataKey", context)
        assert trusts(policy, service, "kms:DescribeKey", context)
        assert not trusts(policy, service, "kms:GenerateDataKey", {**context, "aws:SourceArn": "arn:aws:cloudtrail:x"})
        assert not trusts(policy, service, "kms:Decrypt", context)
        reader = "arn:aws:iam::100000000001:role/auditor"
        read = {"kms:CallerAccount": MGMT, "kms:EncryptionContext:aws:cloudtrail:arn": self.TRAIL_ARN}
        assert trusts(policy, reader, "kms:Decrypt", read)
        assert not trusts(policy, reader, "kms:Decrypt", {**read, "kms:CallerAccount": "999999999999"})
        assert not trusts(policy, reader, "kms:ScheduleKeyDeletion", read)
        assert trusts(policy, f"arn:aws:iam::{MGMT}:root", "kms:ScheduleKeyDeletion", {})


def test_cell_operators_get_no_node_shells() -> None:
    """Operators reach workloads through the cluster's access entries, not a shell on a node."""
    policy = identity.cell_operator_policy()
    for action in ("ssm:StartSession", "ssm:ResumeSession", "ssm:SendCommand"):
        assert not allowed_by(policy, action, {}, "*"), action
    assert allowed_by(policy, "eks:AccessKubernetesApi", {}, "*")


def test_cellctl_plan_refuses_a_wildcard_ci_principal_naming_the_setting() -> None:
    result = CliRunner().invoke(app, ["plan", "management", "--config", 'honeycomb:ciPrincipalArns=["*"]'])
    assert result.exit_code == 2, result.output
    assert "honeycomb:ciPrincipalArns" in result.output and "wildcard" in result.output
    assert "Traceback" not in result.output


class TestOrganizationTrailPrerequisites:
    """CreateTrail with IsOrganizationTrail needs all features and CloudTrail's trusted access
    (else CloudTrailAccessNotEnabledException); the stack does not own the organization, so it checks."""

    def test_all_features_and_cloudtrails_trusted_access_pass(self) -> None:
        audit_trail.require_trail_prerequisites("ALL", ["sso.amazonaws.com", "cloudtrail.amazonaws.com"])

    def test_without_cloudtrails_trusted_access_it_says_how_to_enable_it(self) -> None:
        with pytest.raises(audit_trail.TrailPrerequisiteError) as error:
            audit_trail.require_trail_prerequisites("ALL", ["sso.amazonaws.com"])
        assert "aws organizations enable-aws-service-access --service-principal cloudtrail.amazonaws.com" in str(
            error.value
        )

    def test_without_all_features_it_is_an_error(self) -> None:
        with pytest.raises(audit_trail.TrailPrerequisiteError, match="all features"):
            audit_trail.require_trail_prerequisites("CONSOLIDATED_BILLING", ["cloudtrail.amazonaws.com"])
        with pytest.raises(audit_trail.TrailPrerequisiteError, match="all features"):
            audit_trail.require_trail_prerequisites(None, None)

    def test_the_management_plan_stops_before_the_trail(self, registry: Registry, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        from cellctl.mocks import aws_org

        monkeypatch.setattr(aws_org, "ENABLED_SERVICE_PRINCIPALS", ("sso.amazonaws.com",))
        with pytest.raises(Exception, match="trusted access for CloudTrail"):
            run_stack("management", registry)
