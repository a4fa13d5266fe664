"""A cell's VPC: public and private subnets in three availability zones, NAT, routes, flow logs.

Subnets come from `components.cidr.subnet_layout`, so a cell's addresses follow from its CIDR
alone. The zone names are passed in as a list of known length (each item may be an Output),
so every subnet is created at the top level of the program and none inside an `apply`.
Non-goals: peering, transit gateways, VPC endpoints (a cell talks to nothing but the internet
and AWS APIs).
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import cidr as cidrs
from components.aws.iam import flow_logs_policy, flow_logs_trust_policy

#: Subnet tags that tell the AWS load balancer controller where to put load balancers.
PUBLIC_ELB_TAG = {"kubernetes.io/role/elb": "1"}
PRIVATE_ELB_TAG = {"kubernetes.io/role/internal-elb": "1"}


@dataclass(frozen=True)
class CellNetworkArgs:
    cidr: ipaddress.IPv4Network
    """The cell's address space; every subnet is carved from it."""
    zones: Sequence[pulumi.Input[str]]
    """Availability zone names, one per zone the cell spans (known length, usually three)."""
    account_id: pulumi.Input[str]
    """The cell's account: limits who may use the flow-logs role."""
    region: str
    """The cell's region."""
    nat_per_zone: bool
    """One NAT gateway per zone (a zone's outage does not cut the others off) or one for all."""
    flow_log_retention_days: int
    """How long VPC flow logs are kept."""


def zone_key(index: int) -> str:
    """A stable key for the i-th zone (a, b, c) used in resource names; names never depend on Outputs."""
    return string.ascii_lowercase[index]


class CellNetwork(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    nat_gateway_ids: list[pulumi.Output[str]]
    flow_log_group_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: CellNetworkArgs, *, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:aws:CellNetwork", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self, provider=provider)
        layout = cidrs.subnet_layout(args.cidr, zones=len(args.zones))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=self._child,
        )
        # No rules: nothing may use the default security group by accident.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, tags={"Name": f"{name}-default (unused)"}, opts=self._child
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=self._child)

        public = [
            self._subnet(vpc, "public", i, net, zone, PUBLIC_ELB_TAG)
            for i, (net, zone) in enumerate(zip(layout.public, args.zones, strict=True))
        ]
        private = [
            self._subnet(vpc, "private", i, net, zone, PRIVATE_ELB_TAG)
            for i, (net, zone) in enumerate(zip(layout.private, args.zones, strict=True))
        ]

        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags={"Name": f"{name}-public"}, opts=self._child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=self._child,
        )
        for i, subnet in enumerate(public):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone_key(i)}", route_table_id=public_rt.id, subnet_id=subnet.id, opts=self._child
            )

        nat_zones = range(len(public)) if args.nat_per_zone else range(1)
        nats = [self._nat(i, public[i], igw) for i in nat_zones]
        for i, subnet in enumerate(private):
            rt = aws.ec2.RouteTable(
                f"{name}-private-{zone_key(i)}",
                vpc_id=vpc.id,
                tags={"Name": f"{name}-private-{zone_key(i)}"},
                opts=self._child,
            )
            aws.ec2.Route(
                f"{name}-private-{zone_key(i)}-default",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[i if args.nat_per_zone else 0].id,
                opts=self._child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone_key(i)}", route_table_id=rt.id, subnet_id=subnet.id, opts=self._child
            )

        self.flow_log_group_name = self._flow_logs(vpc, args)
        self.vpc_id = vpc.id
        self.public_subnet_ids = [s.id for s in public]
        self.private_subnet_ids = [s.id for s in private]
        self.nat_gateway_ids = [n.id for n in nats]
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "nat_gateway_ids": self.nat_gateway_ids,
                "flow_log_group_name": self.flow_log_group_name,
            }
        )

    def _subnet(
        self,
        vpc: aws.ec2.Vpc,
        tier: str,
        index: int,
        net: ipaddress.IPv4Network,
        zone: pulumi.Input[str],
        extra_tags: dict[str, str],
    ) -> aws.ec2.Subnet:
        subnet_name = f"{self._name}-{tier}-{zone_key(index)}"
        return aws.ec2.Subnet(
            subnet_name,
            vpc_id=vpc.id,
            cidr_block=str(net),
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={"Name": subnet_name, "tier": tier, **extra_tags},
            opts=self._child,
        )

    def _nat(self, index: int, subnet: aws.ec2.Subnet, igw: aws.ec2.InternetGateway) -> aws.ec2.NatGateway:
        nat_name = f"{self._name}-nat-{zone_key(index)}"
        eip = aws.ec2.Eip(nat_name, domain="vpc", tags={"Name": nat_name}, opts=self._child)
        return aws.ec2.NatGateway(
            nat_name,
            allocation_id=eip.id,
            subnet_id=subnet.id,
            connectivity_type="public",
            tags={"Name": nat_name},
            # A NAT gateway is only useful once the VPC has a way out.
            opts=pulumi.ResourceOptions(parent=self, provider=self._child.provider, depends_on=[igw]),
        )

    def _flow_logs(self, vpc: aws.ec2.Vpc, args: CellNetworkArgs) -> pulumi.Output[str]:
        name = self._name
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/honeycomb/{name}/vpc-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            opts=self._child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            name=f"{name}-flow-logs",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: flow_logs_trust_policy(account, args.region)
            ),
            opts=self._child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs", role=role.id, policy=group.arn.apply(flow_logs_policy), opts=self._child
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags={"Name": f"{name}-flow-logs"},
            opts=self._child,
        )
        return group.name
