"""A cell's public DNS zone (`<cell>.<domain>`) and its delegation in the organization's parent zone.

The zone lives in the cell account (through the cell provider); the NS record lives in the
parent zone in the DNS account, written through the delegation provider, which assumes a role
that may only touch that one record. Both are passed in explicitly: this component never
decides which account it writes to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.delegation import DnsDelegation


@dataclass(frozen=True)
class CellDnsArgs:
    zone_name: str
    """Fully qualified name of the cell's zone, e.g. alpha.cells.example.com."""
    parent_zone_id: str
    """Route53 id of the organization's parent zone in the DNS account."""
    protect: bool = False
    """Protect the zone against deletion (prod): deleting it takes the cell off the internet."""


class CellDns(pulumi.ComponentResource):
    zone_id: pulumi.Output[str]
    zone_name: pulumi.Output[str]
    name_servers: pulumi.Output[Sequence[str]]
    delegation_fqdn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: CellDnsArgs,
        *,
        provider: aws.Provider,
        delegation_provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:CellDns", name, None, opts)
        zone = aws.route53.Zone(
            f"{name}-zone",
            name=args.zone_name,
            comment=f"The {name} cell's public zone (delegated from the parent zone)",
            # A cell's records belong to its workloads; destroying the zone must not delete them silently.
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=args.protect),
        )
        delegation = DnsDelegation(
            f"{name}-delegation",
            {"zone_name": args.zone_name, "name_servers": zone.name_servers, "parent_zone_id": args.parent_zone_id},
            provider=delegation_provider,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.zone_id = zone.zone_id
        self.zone_name = zone.name
        self.name_servers = zone.name_servers
        self.delegation_fqdn = delegation.record_fqdn
        self.register_outputs(
            {
                "zone_id": self.zone_id,
                "zone_name": self.zone_name,
                "name_servers": self.name_servers,
                "delegation_fqdn": self.delegation_fqdn,
            }
        )
