"""Tenant names: one CNAME `<tenant>.<domain>` per tenant in the organization's parent zone.

A record exists while its tenant does; its value belongs to whoever moves the tenant. A move
(`cellctl tenants move`) lowers the TTL and UPSERTs the record to the destination cell directly,
seconds per tenant and independent of other moves, so the record ignores changes to `records` and
`ttl`: a stack update never undoes a flip in flight, and a tenant file edited without a move never
sends traffic to a cell that lacks the tenant's data. Each record's name is `<component>-<tenant>`,
keyed by tenant id, so adding or removing a tenant touches its record alone.

`allow_overwrite` stays off: creating a name that already holds a record fails (Route53's
CREATE) instead of silently taking over a record someone else made. Route53 refuses a CNAME
beside any other record of its name (RFC 1034 3.6.2) and at a zone's apex; the registry keeps
tenant ids apart from cell names and the router's host (`cells.loader`), the policy pack
checks the planned records (`policies.routes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_aws as aws

#: What a move may change without the stack: Pulumi never reverts these on an update.
MOVE_OWNED = ("records", "ttl")


@dataclass(frozen=True)
class TenantName:
    """One tenant's record: `name` CNAME `origin` with `ttl` (from `cells.routes.Route`)."""

    name: str
    origin: str
    ttl: int


class TenantNamesArgs(TypedDict):
    zone_id: str
    """Route53 id of the parent zone (DNS account)."""
    names: Mapping[str, TenantName]
    """Tenant id -> its record."""


class TenantNames(pulumi.ComponentResource):
    fqdns: pulumi.Output[dict[str, str]]
    """Tenant id -> the record's name as Route53 holds it."""

    def __init__(
        self, name: str, args: TenantNamesArgs, *, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:aws:TenantNames", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider, ignore_changes=list(MOVE_OWNED))
        fqdns: dict[str, pulumi.Output[str]] = {}
        for tenant, record in sorted(args["names"].items()):
            fqdns[tenant] = aws.route53.Record(
                f"{name}-{tenant}",
                zone_id=args["zone_id"],
                name=record.name,
                type="CNAME",
                ttl=record.ttl,
                records=[record.origin],
                allow_overwrite=False,
                opts=child,
            ).fqdn
        self.fqdns = pulumi.Output.all(**fqdns) if fqdns else pulumi.Output.from_input({})
        self.register_outputs({"fqdns": self.fqdns})
