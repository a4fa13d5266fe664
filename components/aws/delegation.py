"""NS delegation of a cell's zone in the organization's parent zone (Route53, DNS account).

Shared by AWS and GCP cells: wherever the cell's zone lives, its delegation is one NS record
in the parent zone, written through a provider that assumes the narrowly scoped delegation
role the management stack creates (it may only write the record named after the cell).

The provider opens its session with the session tag `cell=<cell>`: the role's one permission
statement compares the record name with `${aws:PrincipalTag/cell}.<domain>`, so the role's
documents stay the same size however many cells there are (`components.aws.dns_role`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import pulumi
import pulumi_aws as aws

#: Route53's usual TTL for delegations: two days.
NS_TTL = 172800
#: The session tag that names the cell; the delegation role's policy only reads this key.
CELL_TAG = "cell"


def session_name(cell: str) -> str:
    """The role session a cell's stack opens: CloudTrail shows which cell wrote the record."""
    return f"honeycomb-{cell}-dns"


def delegation_provider(
    name: str,
    *,
    role_arn: pulumi.Input[str],
    cell: str,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions | None = None,
) -> aws.Provider:
    """The provider for the DNS account; Route53 is global, so the region is fixed. The `cell`
    session tag is what the delegation role checks; it is transitive so that a session chained
    from this one could not claim another cell."""
    return aws.Provider(
        name,
        region="us-east-1",
        assume_roles=[
            aws.ProviderAssumeRoleArgs(
                role_arn=role_arn,
                session_name=session_name(cell),
                tags={CELL_TAG: cell},
                transitive_tag_keys=[CELL_TAG],
            )
        ],
        default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
        opts=opts,
    )


class DnsDelegationArgs(TypedDict):
    zone_name: pulumi.Input[str]
    """Fully qualified name of the cell's zone, e.g. alpha.cells.example.com."""
    name_servers: pulumi.Input[Sequence[pulumi.Input[str]]]
    """The cell zone's name servers."""
    parent_zone_id: pulumi.Input[str]
    """Route53 id of the parent zone in the DNS account."""


class DnsDelegation(pulumi.ComponentResource):
    record_fqdn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DnsDelegationArgs, *, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:aws:DnsDelegation", name, None, opts)
        record = aws.route53.Record(
            f"{name}-ns",
            zone_id=args["parent_zone_id"],
            name=args["zone_name"],
            type="NS",
            ttl=NS_TTL,
            records=args["name_servers"],
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.record_fqdn = record.fqdn
        self.register_outputs({"record_fqdn": self.record_fqdn})
