"""The DNS delegation role in the DNS account: what a cell stack assumes to write its zone's NS
record into the organization's parent zone, and nothing else.

Each cell may only change its own NS record. The role cannot tell cells apart by who assumed
it, so the session name carries the cell: a cell's stack opens its session as
`honeycomb-<cell>-dns` (`components.aws.delegation.delegation_provider`), the trust policy binds
each cell account to its own session name, and every permission statement only matches the
session of the cell whose record it allows (`aws:userid` of an assumed role ends with
`:<session name>`). Record changes are further limited with Route53's own condition keys:
the normalized record name must be the cell's zone and the record type NS.

Stacks run with CI's credentials, so the CI role is trusted too (for `honeycomb-*-dns`
sessions); the per-cell statements still stop one cell's session from touching another's record.

Scaling note: IAM limits a trust policy to 4,096 characters and a role's inline policies to
10,240, and both documents grow with the number of cells. Past a few dozen cells the role needs
session tags instead (`${aws:PrincipalTag/cell}` in one statement), which needs the cell's
delegation provider to pass a `cell` session tag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from components.aws.iam import document

#: Route53 reads a writer needs to create a record and wait for the change.
READ_ACTIONS = ("route53:GetHostedZone", "route53:ListResourceRecordSets")
#: IAM's limits: a trust policy (with the quota raised to its maximum) and a role's inline policies.
MAX_TRUST_CHARS = 4096
MAX_INLINE_CHARS = 10240


def session_name(cell: str) -> str:
    """The role session a cell's stack opens; must match `delegation_provider`."""
    return f"honeycomb-{cell}-dns"


def trust_policy(cell_accounts: Mapping[str, str], ci_role_arn: str) -> str:
    """Each cell account may assume the role only under its own cell's session name; CI may
    assume it under any cell's session name."""
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": ci_role_arn},
            "Action": "sts:AssumeRole",
            "Condition": {"StringLike": {"sts:RoleSessionName": session_name("*")}},
        }
    ]
    for cell, account in sorted(cell_accounts.items()):
        statements.append(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:RoleSessionName": session_name(cell)}},
            }
        )
    return document(*statements)


def delegation_policy(parent_zone_id: str, zones: Mapping[str, str]) -> str:
    """`zones`: the zone name by cell. Each cell's session may only UPSERT/CREATE/DELETE the NS
    record named after its own zone in the parent zone."""
    zone_arn = f"arn:aws:route53:::hostedzone/{parent_zone_id}"
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": list(READ_ACTIONS), "Resource": zone_arn},
        {"Effect": "Allow", "Action": "route53:GetChange", "Resource": "arn:aws:route53:::change/*"},
    ]
    for cell, zone in sorted(zones.items()):
        statements.append(
            {
                "Effect": "Allow",
                "Action": "route53:ChangeResourceRecordSets",
                "Resource": zone_arn,
                "Condition": {
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [zone.rstrip(".").lower()],
                        "route53:ChangeResourceRecordSetsRecordTypes": ["NS"],
                    },
                    "StringLike": {"aws:userid": f"*:{session_name(cell)}"},
                },
            }
        )
    return document(*statements)


def size_problems(trust: str, policy: str) -> list[str]:
    """Documents over IAM's limits, said plainly (IAM would reject them at `pulumi up`)."""
    problems = []
    for what, text, limit in (("trust policy", trust, MAX_TRUST_CHARS), ("permissions", policy, MAX_INLINE_CHARS)):
        if len(text) > limit:
            problems.append(
                f"the DNS delegation role's {what} is {len(text)} characters, over IAM's {limit}: "
                "with this many cells the role must select records by session tag (see components/aws/dns_role.py)"
            )
    return problems


class DnsDelegationRoleArgs(TypedDict):
    role_name: str
    """Name of the role (the cell stacks read its ARN from the management stack)."""
    parent_zone_id: str
    """Route53 id of the parent zone."""
    zones: Mapping[str, str]
    """Every cell's zone name by cell name (AWS and GCP cells alike)."""
    cell_accounts: Mapping[str, pulumi.Input[str]]
    """AWS cells' account ids by cell name."""
    ci_role_arn: pulumi.Input[str]
    """The role CI deploys as."""
    tags: Mapping[str, str]


class DnsDelegationRole(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: DnsDelegationRoleArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:DnsDelegationRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        cells: Sequence[str] = sorted(args["cell_accounts"])

        policy = delegation_policy(args["parent_zone_id"], args["zones"])

        def trust(values: list[str]) -> str:
            ci_role_arn, *accounts = values
            document = trust_policy(dict(zip(cells, accounts, strict=True)), ci_role_arn)
            for problem in size_problems(document, policy):
                pulumi.log.warn(problem, resource=self)
            return document

        role = aws.iam.Role(
            f"{name}-role",
            name=args["role_name"],
            description="Cell stacks write their own zone's NS record in the parent zone",
            assume_role_policy=pulumi.Output.all(args["ci_role_arn"], *(args["cell_accounts"][c] for c in cells)).apply(
                trust
            ),
            max_session_duration=3600,
            tags=dict(args["tags"]),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-ns-records",
            role=role.id,
            policy=policy,
            opts=child,
        )
        self.arn = role.arn
        self.register_outputs({"arn": self.arn})
