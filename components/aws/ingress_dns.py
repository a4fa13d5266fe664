"""The wildcard record `*.<cell zone>` that sends every application host to the cell's ingress controller.

The record lives in the cell's own zone (written through the cell provider) and names the
ingress controller's Network Load Balancer by its DNS name. A CNAME rather than an alias: the
load balancer belongs to the cluster's cloud controller, so its hosted zone id is not known to
the program, and a CNAME below the zone apex needs none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

#: Seconds resolvers keep the record: short enough that a replaced load balancer is picked up quickly.
WILDCARD_TTL = 300


def wildcard_name(zone_name: str) -> str:
    """The wildcard below a zone: every `<component>.<zone>` host matches it."""
    return f"*.{zone_name.rstrip('.')}"


@dataclass(frozen=True)
class IngressDnsArgs:
    zone_id: pulumi.Input[str]
    """Route53 id of the cell's zone."""
    zone_name: str
    """The cell's zone, e.g. alpha.cells.example.com."""
    target: pulumi.Input[str]
    """DNS name of the ingress controller's load balancer."""
    ttl: int = WILDCARD_TTL


class IngressDns(pulumi.ComponentResource):
    fqdn: pulumi.Output[str]
    target: pulumi.Output[str]

    def __init__(
        self, name: str, args: IngressDnsArgs, *, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:aws:IngressDns", name, None, opts)
        record = aws.route53.Record(
            f"{name}-ingress-wildcard",
            zone_id=args.zone_id,
            name=wildcard_name(args.zone_name),
            type="CNAME",
            ttl=args.ttl,
            records=[args.target],
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.fqdn = record.fqdn
        self.target = pulumi.Output.from_input(args.target)
        self.register_outputs({"fqdn": self.fqdn, "target": self.target})
