"""The AWS Organization's cell structure: one OU per environment, one account per AWS cell, and
the service control policies every cell account lives under.

Scope: OUs under the root, member accounts and SCPs attached to the cell OUs. Non-goals: the
management, monitoring and DNS accounts (they exist before Honeycomb) and anything inside a
cell account (the cell stacks own that).

SCP documents are built by pure functions so they are tested directly. An SCP may hold at most
5,120 characters, so the region guardrail, the other guardrails and the protections of what
Honeycomb deploys are three policies (an OU takes at most five, AWS's FullAWSAccess included).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

#: Largest SCP document AWS Organizations accepts (characters, whitespace included: the documents
#: are written without any), and how many SCPs one OU may have attached (FullAWSAccess counts).
MAX_SCP_CHARS = 5120
MAX_SCPS_PER_TARGET = 5

#: The actions AWS Control Tower's Region deny control exempts (GRREGIONDENY, and the same list in the
#: OU control CT.MULTISERVICE.PV.1): global services, or services whose control plane lives in one
#: Region, that must work whatever Region a request names. Kept exactly as published, in one place:
#: https://docs.aws.amazon.com/controltower/latest/controlreference/primary-region-deny-policy.html
CONTROL_TOWER_REGION_DENY_EXEMPT = (
    "a4b:*",
    "access-analyzer:*",
    "account:*",
    "acm:*",
    "activate:*",
    "artifact:*",
    "aws-marketplace-management:*",
    "aws-marketplace:*",
    "aws-portal:*",
    "billing:*",
    "billingconductor:*",
    "budgets:*",
    "ce:*",
    "chatbot:*",
    "chime:*",
    "cloudfront:*",
    "cloudtrail:LookupEvents",
    "compute-optimizer:*",
    "config:*",
    "consoleapp:*",
    "consolidatedbilling:*",
    "cur:*",
    "datapipeline:GetAccountLimits",
    "devicefarm:*",
    "directconnect:*",
    "ec2:DescribeRegions",
    "ec2:DescribeTransitGateways",
    "ec2:DescribeVpnGateways",
    "ecr-public:*",
    "fms:*",
    "freetier:*",
    "globalaccelerator:*",
    "health:*",
    "iam:*",
    "importexport:*",
    "invoicing:*",
    "iq:*",
    "kms:*",
    "license-manager:ListReceivedLicenses",
    "lightsail:Get*",
    "mobileanalytics:*",
    "networkmanager:*",
    "notifications-contacts:*",
    "notifications:*",
    "organizations:*",
    "payments:*",
    "pricing:*",
    "quicksight:DescribeAccountSubscription",
    "resource-explorer-2:*",
    "route53-recovery-cluster:*",
    "route53-recovery-control-config:*",
    "route53-recovery-readiness:*",
    "route53:*",
    "route53domains:*",
    "s3:CreateMultiRegionAccessPoint",
    "s3:DeleteMultiRegionAccessPoint",
    "s3:DescribeMultiRegionAccessPointOperation",
    "s3:GetAccountPublicAccessBlock",
    "s3:GetBucketLocation",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetMultiRegionAccessPoint",
    "s3:GetMultiRegionAccessPointPolicy",
    "s3:GetMultiRegionAccessPointPolicyStatus",
    "s3:GetStorageLensConfiguration",
    "s3:GetStorageLensDashboard",
    "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints",
    "s3:ListStorageLensConfigurations",
    "s3:PutAccountPublicAccessBlock",
    "s3:PutMultiRegionAccessPointPolicy",
    "savingsplans:*",
    "shield:*",
    "sso:*",
    "sts:*",
    "support:*",
    "supportapp:*",
    "supportplans:*",
    "sustainability:*",
    "tag:GetResources",
    "tax:*",
    "trustedadvisor:*",
    "vendor-insights:ListEntitledSecurityProfiles",
    "waf-regional:*",
    "waf:*",
    "wafv2:*",
)

#: Turning off the audit trail: CloudTrail is how every other guardrail is checked.
CLOUDTRAIL_ACTIONS = (
    "cloudtrail:DeleteTrail",
    "cloudtrail:PutEventSelectors",
    "cloudtrail:StopLogging",
    "cloudtrail:UpdateTrail",
)

#: Cutting a cell off from central monitoring (its CloudWatch observability link).
OBSERVABILITY_ACTIONS = ("oam:DeleteLink", "oam:UpdateLink")

#: Changing an IAM role: what AWS Control Tower denies on the roles it sets up, plus tagging.
ROLE_CHANGE_ACTIONS = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)

#: Blinding the network record: flow logs cannot be modified, only deleted.
FLOW_LOG_ACTIONS = ("ec2:DeleteFlowLogs",)

#: Losing or shortening what a cell's log groups keep.
LOG_GROUP_ACTIONS = (
    "logs:DeleteLogGroup",
    "logs:DeleteLogStream",
    "logs:DeleteRetentionPolicy",
    "logs:DisassociateKmsKey",
    "logs:PutRetentionPolicy",
)

#: Roles of a cell account that only Honeycomb's deployments may change, by the suffix of their
#: names (`components.aws.iam`, `components.aws.network`): the access role is added by name.
PROTECTED_ROLE_SUFFIXES = ("-deployer", "-read-only", "-flow-logs")
#: Log groups of a cell (VPC flow logs, EKS control-plane logs), by name prefix.
PROTECTED_LOG_GROUP_PREFIXES = ("/honeycomb/", "/aws/eks/")


def role_arn_pattern(name: str) -> str:
    """A role of any account, as `aws:PrincipalArn` shows a session of it (the role's ARN, not the
    session's) and as IAM names it in a `Resource`. Cell roles live at the path `/`."""
    return f"arn:aws:iam::*:role/{name}"


def deploy_principals(access_role_name: str) -> list[str]:
    """The roles Honeycomb deploys with in a cell account: the organization's access role (every
    `pulumi up` of a cell stack: the cell provider assumes it) and the cell's deployer role (CI's
    way onto the cluster). Only these may change what the guardrails protect."""
    return [role_arn_pattern(access_role_name), role_arn_pattern("*-deployer")]


def _document(*statements: Mapping[str, Any]) -> str:
    # Compact separators: SCPs are limited in characters, whitespace counts.
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True, separators=(",", ":"))


def region_guardrail_policy(allowed_regions: Sequence[str]) -> str:
    """Deny every regional action outside the allowed regions; Control Tower's global services stay usable."""
    if not allowed_regions:
        raise ValueError("the region guardrail needs at least one allowed region")
    return _document(
        {
            "Sid": "DenyOutsideAllowedRegions",
            "Effect": "Deny",
            "NotAction": list(CONTROL_TOWER_REGION_DENY_EXEMPT),
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": sorted(set(allowed_regions))}},
        }
    )


def _unless_deploying(access_role_name: str) -> dict[str, Any]:
    return {"ArnNotLike": {"aws:PrincipalArn": deploy_principals(access_role_name)}}


def cell_guardrail_policy(access_role_name: str) -> str:
    """What no one in a cell account may do, whatever IAM allows: leave the organization, blind
    the audit trail, or act as the account's root user; and, but for Honeycomb's deployments
    (which change and destroy a cell's link), unlink the cell from central monitoring."""
    return _document(
        {
            "Sid": "DenyLeavingOrganization",
            "Effect": "Deny",
            "Action": "organizations:LeaveOrganization",
            "Resource": "*",
        },
        {"Sid": "DenyCloudTrailTampering", "Effect": "Deny", "Action": list(CLOUDTRAIL_ACTIONS), "Resource": "*"},
        {
            "Sid": "DenyObservabilityUnlink",
            "Effect": "Deny",
            "Action": list(OBSERVABILITY_ACTIONS),
            "Resource": "*",
            "Condition": _unless_deploying(access_role_name),
        },
        {
            "Sid": "DenyRootUser",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringLike": {"aws:PrincipalArn": "arn:*:iam::*:root"}},
        },
    )


def cell_protection_policy(access_role_name: str) -> str:
    """What only Honeycomb's deployments may change in a cell account: the roles they deploy with
    and the cell's other roles, its flow logs and its log groups (break-glass admins included)."""
    roles = [role_arn_pattern(access_role_name), *(role_arn_pattern(f"*{s}") for s in PROTECTED_ROLE_SUFFIXES)]
    log_groups = [f"arn:aws:logs:*:*:log-group:{prefix}*" for prefix in PROTECTED_LOG_GROUP_PREFIXES]
    unless = _unless_deploying(access_role_name)
    return _document(
        {
            "Sid": "ProtectHoneycombRoles",
            "Effect": "Deny",
            "Action": list(ROLE_CHANGE_ACTIONS),
            "Resource": roles,
            "Condition": unless,
        },
        {
            "Sid": "ProtectFlowLogs",
            "Effect": "Deny",
            "Action": list(FLOW_LOG_ACTIONS),
            "Resource": "*",
            "Condition": unless,
        },
        {
            "Sid": "ProtectLogGroups",
            "Effect": "Deny",
            "Action": list(LOG_GROUP_ACTIONS),
            "Resource": log_groups,
            "Condition": unless,
        },
    )


def service_control_policies(allowed_regions: Sequence[str], access_role_name: str) -> dict[str, tuple[str, str]]:
    """Every SCP on the cell OUs by key: (document, description). Each must fit `MAX_SCP_CHARS`,
    and with AWS's own FullAWSAccess they must fit `MAX_SCPS_PER_TARGET`: checked here, not by AWS."""
    policies = {
        "regions": (region_guardrail_policy(allowed_regions), "Cell accounts stay in the allowed regions"),
        "guardrails": (
            cell_guardrail_policy(access_role_name),
            "Cell accounts cannot leave the organization, stop CloudTrail, unlink monitoring or use root",
        ),
        "protections": (
            cell_protection_policy(access_role_name),
            "Only Honeycomb's deployments change a cell's roles, flow logs and log groups",
        ),
    }
    for key, (content, _) in policies.items():
        if len(content) > MAX_SCP_CHARS:
            raise ValueError(f"SCP {key!r} has {len(content)} characters, more than AWS's {MAX_SCP_CHARS}: split it")
    if len(policies) + 1 > MAX_SCPS_PER_TARGET:
        raise ValueError(f"{len(policies)} SCPs and FullAWSAccess exceed AWS's {MAX_SCPS_PER_TARGET} per OU")
    return policies


def account_name(cell: str) -> str:
    """The account's name in the organization."""
    return f"cell-{cell}"


def ou_name(environment: str) -> str:
    return f"cells-{environment}"


@dataclass(frozen=True)
class CellAccount:
    """One AWS cell's member account."""

    email: str
    """Root email of the account; unique in the organization."""
    environment: str
    """The environment whose OU holds the account."""
    role_name: str
    """The role Organizations creates in the account for the management account to assume."""
    account_id: str | None = None
    """An existing account to adopt (imported) instead of creating one."""
    protect: bool = False
    """Refuse to delete the account (prod)."""
    tags: dict[str, str] = field(default_factory=dict)


class CellOrganizationArgs(TypedDict):
    root_id: pulumi.Input[str]
    """Id of the organization's root (r-xxxx): the OUs go directly under it."""
    environments: Sequence[str]
    """Every environment: one OU each, created even while it has no cell, so OU ids never move."""
    allowed_regions: Sequence[str]
    """AWS regions cell accounts may use."""
    access_role_name: str
    """The organization's access role in every cell account: the one role (with the deployer) exempt
    from the SCPs' protections, because every cell deployment runs as it."""
    accounts: Mapping[str, CellAccount]
    """Member accounts by cell name."""
    tags: Mapping[str, str]
    """Tags on the OUs and policies."""


class CellOrganization(pulumi.ComponentResource):
    """OUs, cell accounts and SCPs. Accounts are keyed by cell name, never by position."""

    ou_ids: dict[str, pulumi.Output[str]]
    account_ids: dict[str, pulumi.Output[str]]
    policy_ids: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: CellOrganizationArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:CellOrganization", name, None, opts)
        self._provider = provider
        tags = dict(args["tags"])
        ous = {
            env: aws.organizations.OrganizationalUnit(
                f"{name}-ou-{env}",
                name=ou_name(env),
                parent_id=args["root_id"],
                tags={**tags, "environment": env},
                opts=self._child(),
            )
            for env in args["environments"]
        }
        self.ou_ids = {env: ou.id for env, ou in ous.items()}
        policies = service_control_policies(args["allowed_regions"], args["access_role_name"])
        self.policy_ids = {}
        for key, (content, description) in policies.items():
            policy = aws.organizations.Policy(
                f"{name}-scp-{key}",
                name=f"honeycomb-cells-{key}",
                description=description,
                type="SERVICE_CONTROL_POLICY",
                content=content,
                tags=tags,
                opts=self._child(),
            )
            self.policy_ids[key] = policy.id
            for env, ou in ous.items():
                aws.organizations.PolicyAttachment(
                    f"{name}-scp-{key}-{env}", policy_id=policy.id, target_id=ou.id, opts=self._child()
                )
        self.account_ids = {}
        for cell, account in args["accounts"].items():
            if account.environment not in ous:
                raise ValueError(f"cell {cell!r} is in environment {account.environment!r}, which has no OU")
            self.account_ids[cell] = self._account(cell, account, ous[account.environment]).id
        self.register_outputs({"ou_ids": self.ou_ids, "account_ids": self.account_ids})

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._provider, **kwargs)

    def _account(
        self, cell: str, account: CellAccount, ou: aws.organizations.OrganizationalUnit
    ) -> aws.organizations.Account:
        return aws.organizations.Account(
            f"{cell}-account",
            name=account_name(cell),
            email=account.email,
            parent_id=ou.id,
            role_name=account.role_name,
            # Closing an account is a 90-day, mostly irreversible affair: removing a cell from the
            # registry only takes the account out of the stack (and fails while it is protected).
            close_on_deletion=False,
            tags=account.tags,
            opts=self._child(
                protect=account.protect,
                # The API never returns the role name, so a diff on it would be permanent noise
                # (and would replace an imported account).
                ignore_changes=["roleName"],
                # A pinned account already exists: importing adopts it (moves it into its OU,
                # tags it, protects it) without ever creating a second account. Once imported,
                # the option is a no-op, so it stays in the program.
                import_=account.account_id,
            ),
        )
