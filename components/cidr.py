"""Pure CIDR carving: the same cell CIDR always yields the same subnets.

No Pulumi and no cloud calls here, so the layout is tested directly and a stack program can
compute every subnet before it creates anything (lists of known length, never inside an `apply`).
Changing these functions re-addresses every existing cell: keep them stable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPv4Like = ipaddress.IPv4Network | str

#: Availability zones a cell spreads over; the layout has room for at most this many.
MAX_ZONES = 3


@dataclass(frozen=True)
class SubnetLayout:
    """Per-zone subnets of a cell, index i belonging to the i-th availability zone."""

    public: tuple[ipaddress.IPv4Network, ...]
    private: tuple[ipaddress.IPv4Network, ...]

    @property
    def all(self) -> tuple[ipaddress.IPv4Network, ...]:
        return (*self.public, *self.private)


def network(cidr: IPv4Like) -> ipaddress.IPv4Network:
    """A strict IPv4 network: host bits set (10.0.0.1/16) are an error, not silently dropped."""
    return cidr if isinstance(cidr, ipaddress.IPv4Network) else ipaddress.IPv4Network(cidr, strict=True)


def split(cidr: IPv4Like, extra_bits: int) -> list[ipaddress.IPv4Network]:
    """The 2**extra_bits equal parts of `cidr`, in address order."""
    return list(network(cidr).subnets(prefixlen_diff=extra_bits))


def subnet_layout(cidr: IPv4Like, zones: int = MAX_ZONES) -> SubnetLayout:
    """Public and private subnets for `zones` availability zones.

    The CIDR is cut into quarters: each of the first three is one zone's private subnet (where
    the nodes and pods live, so they get the room); the last quarter is cut into four and its
    first three are the public subnets (load balancers and NAT gateways need few addresses).
    A /16 gives private /18s and public /20s; a /20 gives private /22s and public /24s.
    """
    if not 1 <= zones <= MAX_ZONES:
        raise ValueError(f"a cell spans 1 to {MAX_ZONES} availability zones, got {zones}")
    net = network(cidr)
    if net.prefixlen > 24:
        raise ValueError(f"{net} is too small to carve into subnets: use a /24 or larger")
    quarters = split(net, 2)
    public = split(quarters[-1], 2)
    return SubnetLayout(public=tuple(public[:zones]), private=tuple(quarters[:zones]))


def overlapping(networks: Iterable[IPv4Like]) -> list[tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]]:
    """Every pair of networks that overlap (empty when they are pairwise disjoint)."""
    nets = [network(n) for n in networks]
    return [(a, b) for i, a in enumerate(nets) for b in nets[i + 1 :] if a.overlaps(b)]


def contains(outer: IPv4Like, inner: IPv4Like) -> bool:
    """Whether `inner` lies entirely inside `outer`."""
    return network(inner).subnet_of(network(outer))


# --- GKE ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GkeRanges:
    """A GKE cell's address plan: the node subnet and its two secondary ranges, all inside the cell CIDR."""

    nodes: ipaddress.IPv4Network
    pods: ipaddress.IPv4Network
    services: ipaddress.IPv4Network

    @property
    def all(self) -> tuple[ipaddress.IPv4Network, ...]:
        return (self.nodes, self.pods, self.services)


#: Pods per node GKE may reserve for, largest first, with the block each node then takes from the pod range.
_PODS_PER_NODE_BLOCKS = ((110, 256), (64, 128), (32, 64), (16, 32), (8, 16))


def gke_ranges(cidr: IPv4Like) -> GkeRanges:
    """The node subnet and the pod and service secondary ranges of a GKE cell.

    Pods need by far the most room (GKE gives every node its own block of pod addresses), so
    they get the first half; nodes and services get an eighth each; the last quarter stays free
    for later subnets (an internal load balancer's proxy-only subnet, for example).
    A /16 gives pods a /17 and nodes and services /19s; a /20 gives pods a /21 and the rest /23s.
    """
    net = network(cidr)
    if net.prefixlen > 24:
        raise ValueError(f"{net} is too small for a GKE cell: use a /24 or larger")
    pods, rest = split(net, 1)
    nodes, services, _reserved, _ = split(rest, 2)
    return GkeRanges(nodes=nodes, pods=pods, services=services)


def max_pods_per_node(pods: IPv4Like, nodes: int) -> int:
    """The largest per-node pod limit that lets `nodes` nodes take their pod blocks from `pods`.

    GKE reserves a block of twice the limit (rounded up to a power of two) for every node, so a
    small pod range caps the node pool; lowering the limit is what lets a /20 cell grow to 16+ nodes.
    """
    size = network(pods).num_addresses
    for limit, block in _PODS_PER_NODE_BLOCKS:
        if block * nodes <= size:
            return limit
    raise ValueError(
        f"the pod range {network(pods)} cannot hold {nodes} nodes even at 8 pods per node: "
        "give the cell a larger CIDR or a smaller size"
    )


# --- allocation -----------------------------------------------------------------------------


def first_free(used: Iterable[IPv4Like], prefixlen: int, within: Iterable[IPv4Like]) -> ipaddress.IPv4Network | None:
    """The lowest /`prefixlen` block inside one of `within` (tried in order) that overlaps none of `used`.

    Works on integer address spans, so a registry of thousands of cells is searched in one pass.
    """
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in map(network, used))
    size = 2 ** (32 - prefixlen)
    for space in map(network, within):
        if space.prefixlen > prefixlen:
            continue
        candidate, last = int(space.network_address), int(space.broadcast_address)
        for low, high in spans:
            if high < candidate:
                continue
            if low > candidate + size - 1:
                break
            candidate = (high // size + 1) * size  # the next aligned block after the one in the way
        if candidate + size - 1 <= last:
            return ipaddress.IPv4Network((candidate, prefixlen))
    return None
