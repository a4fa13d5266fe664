"""The AWS Organization's cell structure: one OU per environment, one account per AWS cell, and
the service control policies every cell account lives under.

Scope: OUs under the root, member accounts and SCPs attached to the cell OUs. Non-goals: the
management, monitoring and DNS accounts (they exist before Honeycomb) and anything inside a
cell account (the cell stacks own that).

SCP documents are built by pure functions so they are tested directly. An SCP may hold at most
5,120 characters, so the region guardrail and the other guardrails are two policies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

#: Largest SCP document AWS Organizations accepts.
MAX_SCP_CHARS = 5120

#: Services that are global (or run their control plane in us-east-1) and must keep working
#: whatever region a request names, or the region guardrail breaks IAM, billing, DNS and SSO.
GLOBAL_SERVICE_ACTIONS = (
    "a4b:*",
    "account:*",
    "acm:*",
    "aws-marketplace:*",
    "aws-portal:*",
    "budgets:*",
    "ce:*",
    "chime:*",
    "cloudfront:*",
    "config:*",
    "cur:*",
    "directconnect:*",
    "ec2:DescribeRegions",
    "ec2:DescribeTransitGateways",
    "ec2:DescribeVpnGateways",
    "fms:*",
    "globalaccelerator:*",
    "health:*",
    "iam:*",
    "importexport:*",
    "kms:*",
    "mobileanalytics:*",
    "networkmanager:*",
    "organizations:*",
    "pricing:*",
    "route53:*",
    "route53domains:*",
    "route53-recovery-cluster:*",
    "route53-recovery-control-config:*",
    "route53-recovery-readiness:*",
    "s3:GetAccountPublicAccessBlock",
    "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints",
    "s3:PutAccountPublicAccessBlock",
    "shield:*",
    "sso:*",
    "sts:*",
    "support:*",
    "trustedadvisor:*",
    "waf-regional:*",
    "waf:*",
    "wafv2:*",
    "wellarchitected:*",
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


def _document(*statements: Mapping[str, Any]) -> str:
    # Compact separators: SCPs are limited in characters, whitespace counts.
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True, separators=(",", ":"))


def region_guardrail_policy(allowed_regions: Sequence[str]) -> str:
    """Deny every regional action outside the allowed regions; global services stay usable."""
    if not allowed_regions:
        raise ValueError("the region guardrail needs at least one allowed region")
    return _document(
        {
            "Sid": "DenyOutsideAllowedRegions",
            "Effect": "Deny",
            "NotAction": list(GLOBAL_SERVICE_ACTIONS),
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": sorted(set(allowed_regions))}},
        }
    )


def cell_guardrail_policy() -> str:
    """What no one in a cell account may do, whatever IAM allows: leave the organization, blind
    the audit trail or central monitoring, or act as the account's root user."""
    return _document(
        {
            "Sid": "DenyLeavingOrganization",
            "Effect": "Deny",
            "Action": "organizations:LeaveOrganization",
            "Resource": "*",
        },
        {"Sid": "DenyCloudTrailTampering", "Effect": "Deny", "Action": list(CLOUDTRAIL_ACTIONS), "Resource": "*"},
        {"Sid": "DenyObservabilityUnlink", "Effect": "Deny", "Action": list(OBSERVABILITY_ACTIONS), "Resource": "*"},
        {
            "Sid": "DenyRootUser",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringLike": {"aws:PrincipalArn": "arn:*:iam::*:root"}},
        },
    )


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
        policies = {
            "regions": (region_guardrail_policy(args["allowed_regions"]), "Cell accounts stay in the allowed regions"),
            "guardrails": (
                cell_guardrail_policy(),
                "Cell accounts cannot leave the organization, stop CloudTrail, unlink monitoring or use root",
            ),
        }
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
