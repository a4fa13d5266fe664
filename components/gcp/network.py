"""A cell's network: a custom-mode VPC with one regional subnet for GKE, and egress through Cloud NAT.

The subnet holds the nodes on its primary range and pods and services on two secondary ranges,
all carved from the cell's CIDR by `components.cidr.gke_ranges` before anything is created.
Nodes have no external addresses (private GKE nodes), so they reach the internet through the
Cloud Router's NAT and Google APIs through private Google access. Flow logs are on, sampled.

Non-goals: firewall rules beyond GKE's own (GKE manages the ones it needs), shared VPC, IPv6.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

#: Flow log sampling: half the flows, aggregated every 5 seconds, with all metadata.
FLOW_SAMPLING = 0.5


@dataclass(frozen=True)
class CellNetworkArgs:
    project: pulumi.Input[str]
    """The cell's project id."""
    region: str
    """The cell's region: where the subnet, router and NAT live."""
    nodes_cidr: ipaddress.IPv4Network
    """The subnet's primary range (nodes), inside the cell CIDR."""
    pods_cidr: ipaddress.IPv4Network
    """Secondary range for pods, inside the cell CIDR."""
    services_cidr: ipaddress.IPv4Network
    """Secondary range for Kubernetes services, inside the cell CIDR."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What every child waits for: the project's services (the APIs its resources need)."""


class CellNetwork(pulumi.ComponentResource):
    network_name: pulumi.Output[str]
    network_self_link: pulumi.Output[str]
    subnet_name: pulumi.Output[str]
    subnet_self_link: pulumi.Output[str]
    pods_range_name: str
    services_range_name: str
    nodes_cidr: str

    def __init__(
        self, name: str, args: CellNetworkArgs, *, provider: gcp.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:gcp:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(args.depends_on))
        self.pods_range_name = f"{name}-pods"
        self.services_range_name = f"{name}-services"
        self.nodes_cidr = str(args.nodes_cidr)

        network = gcp.compute.Network(
            f"{name}-vpc",
            name=f"{name}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            # The default route to the internet stays: Cloud NAT egress uses it.
            delete_default_routes_on_create=False,
            description=f"The {name} cell's network.",
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            name=f"{name}-{args.region}",
            project=args.project,
            region=args.region,
            network=network.id,
            ip_cidr_range=str(args.nodes_cidr),
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=self.pods_range_name, ip_cidr_range=str(args.pods_cidr)
                ),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=self.services_range_name, ip_cidr_range=str(args.services_cidr)
                ),
            ],
            private_ip_google_access=True,
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_5_SEC",
                flow_sampling=FLOW_SAMPLING,
                metadata="INCLUDE_ALL_METADATA",
            ),
            opts=child,
        )
        router = gcp.compute.Router(
            f"{name}-router",
            name=f"{name}-router",
            project=args.project,
            region=args.region,
            network=network.id,
            opts=child,
        )
        gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{name}-nat",
            project=args.project,
            region=args.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            # Only this subnet, every range: nodes and pods (pods egress without SNAT to the node's IP).
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])
            ],
            enable_endpoint_independent_mapping=False,
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )

        self.network_name = network.name
        self.network_self_link = network.self_link
        self.subnet_name = subnet.name
        self.subnet_self_link = subnet.self_link
        self.register_outputs(
            {
                "network_name": self.network_name,
                "network_self_link": self.network_self_link,
                "subnet_name": self.subnet_name,
                "subnet_self_link": self.subnet_self_link,
            }
        )
