"""The DNS delegation role in the DNS account: what a cell stack assumes to write its zone's NS
record into the organization's parent zone, and nothing else.

Each cell may only change its own NS record. The role tells cells apart by a session tag: a
cell's stack opens its session with `cell=<cell>` (`components.aws.delegation.delegation_provider`),
and the one write statement allows only the record named `${aws:PrincipalTag/cell}.<domain>`, of
type NS (Route53's own condition keys on the normalized record names and record types). Neither
document names a cell, so both keep the same size for five cells or five thousand; listing the
cells instead outgrows IAM's 4,096-character trust policy at about 20 cells.

Who may assume it: the CI role, which runs every cell stack, under a `honeycomb-*-dns` session
name, only with a non-empty `cell` tag and no other tag key. A session without the tag is
refused, and even if one existed the write statement would match nothing for it. Cell accounts
are not trusted directly: binding an account to its own cell takes one statement per cell,
which is exactly what does not scale, and trusting the whole organization would let any
account claim any cell. Nothing runs a cell stack with a cell account's own credentials.

If CI's own session ever carries transitive session tags from the runner, they reach this role
too and the tag-key condition refuses them: keep CI's session free of transitive tags.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from components.aws.delegation import CELL_TAG, session_name
from components.aws.iam import document

#: Route53 reads a writer needs to create a record and wait for the change.
READ_ACTIONS = ("route53:GetHostedZone", "route53:ListResourceRecordSets")
#: The IAM policy variable the write statement compares record names with (not an f-string field).
CELL_VARIABLE = "${aws:PrincipalTag/" + CELL_TAG + "}"


def trust_policy(ci_role_arn: str) -> str:
    """CI may assume the role under a cell's session name, and must tag the session with the
    cell (the only tag key it may pass, optionally transitive)."""
    has_cell = {f"aws:RequestTag/{CELL_TAG}": "?*"}
    return document(
        {
            "Sid": "CellStacksAssume",
            "Effect": "Allow",
            "Principal": {"AWS": ci_role_arn},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringLike": {**has_cell, "sts:RoleSessionName": session_name("*")},
                "ForAllValues:StringEquals": {"aws:TagKeys": [CELL_TAG]},
            },
        },
        {
            "Sid": "CellStacksTagTheirCell",
            "Effect": "Allow",
            "Principal": {"AWS": ci_role_arn},
            "Action": "sts:TagSession",
            "Condition": {
                "StringLike": has_cell,
                "ForAllValues:StringEquals": {"aws:TagKeys": [CELL_TAG], "sts:TransitiveTagKeys": [CELL_TAG]},
            },
        },
    )


def delegation_policy(parent_zone_id: str, domain: str) -> str:
    """A session may only create, change or delete the NS record named after the cell in its
    `cell` tag, in the parent zone."""
    zone_arn = f"arn:aws:route53:::hostedzone/{parent_zone_id}"
    statement: dict[str, Any] = {
        "Sid": "OwnNsRecordOnly",
        "Effect": "Allow",
        "Action": "route53:ChangeResourceRecordSets",
        "Resource": zone_arn,
        "Condition": {
            "ForAllValues:StringEquals": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                    f"{CELL_VARIABLE}.{domain.rstrip('.').lower()}"
                ],
                "route53:ChangeResourceRecordSetsRecordTypes": ["NS"],
            },
            "Null": {f"aws:PrincipalTag/{CELL_TAG}": "false"},
        },
    }
    return document(
        {"Sid": "ReadParentZone", "Effect": "Allow", "Action": list(READ_ACTIONS), "Resource": zone_arn},
        {
            "Sid": "WaitForChanges",
            "Effect": "Allow",
            "Action": "route53:GetChange",
            "Resource": "arn:aws:route53:::change/*",
        },
        statement,
    )


class DnsDelegationRoleArgs(TypedDict):
    role_name: str
    """Name of the role (the cell stacks read its ARN from the management stack)."""
    parent_zone_id: str
    """Route53 id of the parent zone."""
    domain: str
    """The parent zone's domain; a cell's zone is `<cell>.<domain>`."""
    ci_role_arn: pulumi.Input[str]
    """The role CI deploys as (it runs every cell stack)."""
    tags: dict[str, str]
    """Tags of the role; never a `cell` key, which would stand in for a session's missing tag."""


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
        if CELL_TAG in args["tags"]:
            raise ValueError(
                f"the DNS delegation role cannot carry a {CELL_TAG!r} tag: a role tag counts as a tag of every "
                "session, so it would let a session without its own cell tag write that cell's record"
            )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        role = aws.iam.Role(
            f"{name}-role",
            name=args["role_name"],
            description="Cell stacks write their own zone's NS record in the parent zone",
            assume_role_policy=pulumi.Output.from_input(args["ci_role_arn"]).apply(trust_policy),
            max_session_duration=3600,
            tags=dict(args["tags"]),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-ns-records",
            role=role.id,
            policy=delegation_policy(args["parent_zone_id"], args["domain"]),
            opts=child,
        )
        self.arn = role.arn
        self.register_outputs({"arn": self.arn})
