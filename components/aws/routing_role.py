"""The routing role in the DNS account: what the `routing` stack (and a tenant move's flip) acts as.

The DNS delegation role cannot serve here: it may only write NS records named after the cell in
its session tag. Tenant names are CNAMEs `<tenant>.<domain>` in the same parent zone, and the
router (CloudFront, its function, key-value store and certificate) lives in the DNS account too,
beside the zone its names are in. So a second role, with its own narrow grants:

- in the parent zone, only CNAME records under the organization's domain (tenant names, and the
  router certificate's DNS validation records `_<token>.<host>.<domain>`), and only A/AAAA alias
  records named exactly the router's host. Never NS: a cell's delegation stays the delegation
  role's, and Route53 refuses a CNAME where the delegation's NS records are (a CNAME coexists with
  no other record of its name), so this role cannot take over a cell's zone;
- the router's CloudFront distribution, function and key-value store (read and write keys) and its
  ACM certificate, in this account only.

Who may assume it, with no session tags: the CI role, under the session names `honeycomb-routing`
(the stack) and `honeycomb-move-<tenant>` (a move's flip); and the operators who run
`cellctl tenants move`, signed in to the DNS account through IAM Identity Center with the
`cell-operator` (or break-glass `admin`) permission set, under a move's session name only (never
the stack's). Identity Center's role names carry a hash unknown in advance, so the trust names
the account and pins `aws:PrincipalArn` to those permission sets' roles
(`components.aws.iam.sso_role_pattern`), as the cells' read-only roles do. Trusting the account
in the same account means the caller's own policy must allow the `sts:AssumeRole` too: the
cell-operator permission set does, for this role only (`components.aws.identity`); the management
stack assigns it in the DNS account to the groups that operate prod (`stacks.identity_center`).
The role names no tenant, so its documents keep their size for any number of tenants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components.aws.iam import document, sso_role_pattern

ROLE_NAME = "honeycomb-routing"
#: The routing stack's session; a move's flip opens `honeycomb-move-<tenant>` (CloudTrail tells them apart).
STACK_SESSION = "honeycomb-routing"
MOVE_SESSION_PREFIX = "honeycomb-move-"
#: The Identity Center permission sets whose roles in the DNS account may run a move.
OPERATOR_PERMISSION_SETS = ("cell-operator", "admin")
#: CloudFront and ACM for CloudFront are global services whose API lives in us-east-1.
REGION = "us-east-1"
ZONE_READS = ("route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ListTagsForResource")
DISTRIBUTION_ACTIONS = (
    "cloudfront:CreateDistribution",
    "cloudfront:GetDistribution",
    "cloudfront:GetDistributionConfig",
    "cloudfront:UpdateDistribution",
    "cloudfront:DeleteDistribution",
    "cloudfront:TagResource",
    "cloudfront:UntagResource",
    "cloudfront:ListTagsForResource",
)
#: Tags on the function and the store (the provider reads and writes them on every update).
TAG_ACTIONS = ("cloudfront:TagResource", "cloudfront:UntagResource", "cloudfront:ListTagsForResource")
FUNCTION_ACTIONS = (
    "cloudfront:CreateFunction",
    "cloudfront:DescribeFunction",
    "cloudfront:GetFunction",
    "cloudfront:UpdateFunction",
    "cloudfront:PublishFunction",
    "cloudfront:DeleteFunction",
    *TAG_ACTIONS,
)
STORE_ACTIONS = (
    "cloudfront:CreateKeyValueStore",
    "cloudfront:DescribeKeyValueStore",
    "cloudfront:UpdateKeyValueStore",
    "cloudfront:DeleteKeyValueStore",
    "cloudfront-keyvaluestore:DescribeKeyValueStore",
    "cloudfront-keyvaluestore:GetKey",
    "cloudfront-keyvaluestore:ListKeys",
    "cloudfront-keyvaluestore:PutKey",
    "cloudfront-keyvaluestore:DeleteKey",
    "cloudfront-keyvaluestore:UpdateKeys",
    *TAG_ACTIONS,
)
CERTIFICATE_ACTIONS = (
    "acm:DescribeCertificate",
    "acm:GetCertificate",
    "acm:DeleteCertificate",
    "acm:ListTagsForCertificate",
    "acm:AddTagsToCertificate",
    "acm:RemoveTagsFromCertificate",
)


def role_arn(dns_account_id: str) -> str:
    return f"arn:aws:iam::{dns_account_id}:role/{ROLE_NAME}"


def move_session(tenant_id: str) -> str:
    """The session a move's flip of `tenant_id` opens (IAM allows 64 characters; longer ids are cut)."""
    return f"{MOVE_SESSION_PREFIX}{tenant_id}"[:64]


def trust_policy(ci_role_arn: str, dns_account_id: str) -> str:
    """CI under the routing stack's or a move's session name; the operators' Identity Center roles in
    the DNS account under a move's session name only; never with session tags."""
    operators = [sso_role_pattern(dns_account_id, permission_set) for permission_set in OPERATOR_PERMISSION_SETS]
    return document(
        {
            "Sid": "RoutingStackAndMoves",
            "Effect": "Allow",
            "Principal": {"AWS": ci_role_arn},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringLike": {"sts:RoleSessionName": [STACK_SESSION, f"{MOVE_SESSION_PREFIX}*"]},
                "Null": {"aws:TagKeys": "true"},
            },
        },
        {
            "Sid": "OperatorsMoves",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{dns_account_id}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:PrincipalAccount": dns_account_id},
                "ArnLike": {"aws:PrincipalArn": operators},
                "StringLike": {"sts:RoleSessionName": f"{MOVE_SESSION_PREFIX}*"},
                "Null": {"aws:TagKeys": "true"},
            },
        },
    )


def routing_policy(*, dns_account_id: str, parent_zone_id: str, domain: str, router_host: str) -> str:
    """Tenant CNAMEs and the router's alias in the parent zone; the router's own resources."""
    zone_arn = f"arn:aws:route53:::hostedzone/{parent_zone_id}"
    domain = domain.rstrip(".").lower()
    cloudfront = f"arn:aws:cloudfront::{dns_account_id}"

    def records(sid: str, types: list[str], names: list[str]) -> dict[str, object]:
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Action": "route53:ChangeResourceRecordSets",
            "Resource": zone_arn,
            "Condition": {
                "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": types},
                "ForAllValues:StringLike": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": names},
                # ForAllValues holds for a key the request lacks: require both keys.
                "Null": {
                    "route53:ChangeResourceRecordSetsRecordTypes": "false",
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": "false",
                },
            },
        }

    return document(
        {"Sid": "ReadParentZone", "Effect": "Allow", "Action": list(ZONE_READS), "Resource": zone_arn},
        {
            "Sid": "WaitForChanges",
            "Effect": "Allow",
            "Action": "route53:GetChange",
            "Resource": "arn:aws:route53:::change/*",
        },
        records("TenantNames", ["CNAME"], [f"*.{domain}"]),
        records("RouterName", ["A", "AAAA"], [router_host.rstrip(".").lower()]),
        {
            "Sid": "RouterDistribution",
            "Effect": "Allow",
            "Action": list(DISTRIBUTION_ACTIONS),
            "Resource": f"{cloudfront}:distribution/*",
        },
        {
            "Sid": "RouterFunction",
            "Effect": "Allow",
            "Action": list(FUNCTION_ACTIONS),
            "Resource": f"{cloudfront}:function/*",
        },
        {
            "Sid": "RouterStore",
            "Effect": "Allow",
            "Action": list(STORE_ACTIONS),
            "Resource": f"{cloudfront}:key-value-store/*",
        },
        # RequestCertificate names no certificate yet and ListCertificates lists (no resource-level
        # permission); the rest name this account's.
        {
            "Sid": "RequestRouterCertificate",
            "Effect": "Allow",
            "Action": ["acm:ListCertificates", "acm:RequestCertificate"],
            "Resource": "*",
        },
        {
            "Sid": "RouterCertificate",
            "Effect": "Allow",
            "Action": list(CERTIFICATE_ACTIONS),
            "Resource": f"arn:aws:acm:{REGION}:{dns_account_id}:certificate/*",
        },
    )


class RoutingRoleArgs(TypedDict):
    dns_account_id: str
    """The DNS account: the parent zone's and the router's."""
    parent_zone_id: str
    """Route53 id of the parent zone."""
    domain: str
    """The parent zone's domain: tenant names are `<tenant>.<domain>`."""
    router_host: str
    """The router's full host name, `<routing.host>.<domain>`."""
    ci_role_arn: pulumi.Input[str]
    """The role CI deploys as (it runs the routing stack and the moves' flips)."""
    tags: Mapping[str, str]


class RoutingRole(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: RoutingRoleArgs, *, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:aws:RoutingRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        role = aws.iam.Role(
            f"{name}-role",
            name=ROLE_NAME,
            description="The routing stack and tenant moves write tenant names and the router",
            assume_role_policy=pulumi.Output.from_input(args["ci_role_arn"]).apply(
                lambda ci: trust_policy(ci, args["dns_account_id"])
            ),
            max_session_duration=3600,
            tags=dict(args["tags"]),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-routing",
            role=role.id,
            policy=routing_policy(
                dns_account_id=args["dns_account_id"],
                parent_zone_id=args["parent_zone_id"],
                domain=args["domain"],
                router_host=args["router_host"],
            ),
            opts=child,
        )
        self.arn = role.arn
        self.register_outputs({"arn": self.arn})
