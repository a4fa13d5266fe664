"""A cell's public DNS zone `<cell>.<domain>` in Cloud DNS, delegated from the parent zone.

The parent zone lives in Route53 in the organization's DNS account, so the delegation (one NS
record) is written by the shared `components.aws.delegation.DnsDelegation` through the
delegation provider the stack passes in, exactly as for AWS cells.

The zone is signed (DNSSEC on, NSEC3). Its DS record is not published in the parent: the
delegation role may write only the cell's NS record. Signing first and publishing the DS later
is the safe order, so turning the chain of trust on later needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from components.aws.delegation import DnsDelegation, DnsDelegationArgs


@dataclass(frozen=True)
class CellDnsArgs:
    project: pulumi.Input[str]
    """The cell's project id."""
    zone_name: str
    """The zone's DNS name without the trailing dot, e.g. beta.cells.example.com."""
    parent_zone_id: str
    """Route53 id of the parent zone in the DNS account."""
    labels: Mapping[str, str]
    """The cell's labels."""
    dnssec: bool = True
    """Sign the zone."""
    protect: bool = False
    """Protect the zone from deletion (prod cells: deleting it breaks every endpoint of the cell)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What every child waits for: the project's services (the APIs its resources need)."""


class CellDns(pulumi.ComponentResource):
    zone_name: str
    managed_zone_name: pulumi.Output[str]
    name_servers: pulumi.Output[Sequence[str]]
    delegation_fqdn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: CellDnsArgs,
        *,
        provider: gcp.Provider,
        delegation_provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:gcp:Dns", name, None, opts)
        zone = gcp.dns.ManagedZone(
            f"{name}-zone",
            name=f"{name}-zone",
            project=args.project,
            dns_name=f"{args.zone_name}.",
            description=f"Public zone of the {name} cell.",
            visibility="public",
            dnssec_config=gcp.dns.ManagedZoneDnssecConfigArgs(state="on", non_existence="nsec3")
            if args.dnssec
            else None,
            labels=dict(args.labels),
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, protect=args.protect, depends_on=list(args.depends_on)
            ),
        )
        delegation = DnsDelegation(
            f"{name}-delegation",
            DnsDelegationArgs(
                zone_name=args.zone_name, name_servers=zone.name_servers, parent_zone_id=args.parent_zone_id
            ),
            provider=delegation_provider,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.zone_name = args.zone_name
        self.managed_zone_name = zone.name
        self.name_servers = zone.name_servers
        self.delegation_fqdn = delegation.record_fqdn
        self.register_outputs(
            {
                "zone_name": self.zone_name,
                "managed_zone_name": self.managed_zone_name,
                "name_servers": self.name_servers,
                "delegation_fqdn": self.delegation_fqdn,
            }
        )
