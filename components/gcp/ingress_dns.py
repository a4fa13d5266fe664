"""The wildcard record `*.<cell zone>` that sends every application host to the cell's ingress controller.

An A record set in the cell's Cloud DNS zone (through the cell provider), on the IP address of
the ingress controller's external passthrough load balancer, which GKE creates for its Service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

#: Seconds resolvers keep the record: short enough that a replaced load balancer is picked up quickly.
WILDCARD_TTL = 300


def wildcard_name(zone_name: str) -> str:
    """The wildcard below a zone, as Cloud DNS spells names (with the trailing dot)."""
    return f"*.{zone_name.rstrip('.')}."


@dataclass(frozen=True)
class IngressDnsArgs:
    project: pulumi.Input[str]
    """The cell's project id."""
    managed_zone: pulumi.Input[str]
    """Name of the cell's managed zone (not its DNS name)."""
    zone_name: str
    """The cell's zone, e.g. beta.cells.example.com."""
    address: pulumi.Input[str]
    """IP address of the ingress controller's load balancer."""
    ttl: int = WILDCARD_TTL
    depends_on: Sequence[pulumi.Resource] = ()
    """What the record waits for: the project's services (the Cloud DNS API)."""


class IngressDns(pulumi.ComponentResource):
    fqdn: pulumi.Output[str]
    address: pulumi.Output[str]

    def __init__(
        self, name: str, args: IngressDnsArgs, *, provider: gcp.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:gcp:IngressDns", name, None, opts)
        record = gcp.dns.RecordSet(
            f"{name}-ingress-wildcard",
            project=args.project,
            managed_zone=args.managed_zone,
            name=wildcard_name(args.zone_name),
            type="A",
            ttl=args.ttl,
            rrdatas=[args.address],
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(args.depends_on)),
        )
        self.fqdn = record.name
        self.address = pulumi.Output.from_input(args.address)
        self.register_outputs({"fqdn": self.fqdn, "address": self.address})
