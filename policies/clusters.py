"""Rule 6: Kubernetes clusters are hardened.

Every EKS and GKE cluster encrypts Kubernetes secrets with a KMS key; GKE nodes are private;
the API endpoint of a prod cell's cluster is not open to the whole internet (EKS: public access
off or limited CIDRs; GKE: private endpoint, or master authorized networks without 0.0.0.0/0 or
blocks that together cover the internet), and a prod GKE control plane does not accept all of
Google Cloud's public addresses (`gcpPublicCidrsAccessEnabled` explicitly false: GKE's default
lets any Compute Engine VM of any customer reach it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from cells import Environment
from policies.base import MANDATORY, UNKNOWN, WORLD, Context, View, as_list, cannot_verify, get, known, resource_rule
from policies.documents import covers_the_internet

EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"


def _is_prod(resource: View, ctx: Context) -> bool:
    cell = ctx.cell(resource.stack)
    return cell is not None and cell.environment == Environment.prod


def _eks(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    props = resource.props
    encryption = props.get("encryptionConfig")
    if encryption is not UNKNOWN:
        resources = get(encryption, "resources")
        if resources is not UNKNOWN and "secrets" not in as_list(resources):
            report(f"{resource.label} does not encrypt Kubernetes secrets: set encryptionConfig with a KMS key")
    if not _is_prod(resource, ctx):
        return
    public = get(props, "vpcConfig", "endpointPublicAccess")
    cidrs = get(props, "vpcConfig", "publicAccessCidrs")
    if public is UNKNOWN or cidrs is UNKNOWN or public is False:
        return
    # EKS defaults: public access on, from 0.0.0.0/0.
    listed = [c for c in as_list(cidrs) if c is not UNKNOWN]
    if unreadable := _unreadable(listed):
        report(cannot_verify(f"who reaches {resource.label}'s public endpoint", unreadable))
        return
    open_to = _open_to(listed) if cidrs else ["0.0.0.0/0"]
    if open_to:
        report(f"{resource.label} is a prod cluster whose public API endpoint is open to {', '.join(open_to)}")


def _unreadable(cidrs: list[Any]) -> str | None:
    """Why a list of CIDR blocks cannot be judged (an item that is no CIDR), or None."""
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except (TypeError, ValueError):
            return f"{cidr!r} is not a CIDR block"
    return None


def _open_to(cidrs: list[str]) -> list[str]:
    """The blocks that open an endpoint to the internet: 0.0.0.0/0 or ::/0, or all of them if together they do."""
    return [c for c in cidrs if c in WORLD] or (cidrs if covers_the_internet(cidrs) else [])


def _gke(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    props = resource.props
    state = get(props, "databaseEncryption", "state")
    if state is not UNKNOWN and state != "ENCRYPTED":
        report(f"{resource.label} does not encrypt Kubernetes secrets: set databaseEncryption state ENCRYPTED")
    private_nodes = get(props, "privateClusterConfig", "enablePrivateNodes")
    if private_nodes is not UNKNOWN and private_nodes is not True:
        report(f"{resource.label} has public nodes: set privateClusterConfig.enablePrivateNodes")
    if not _is_prod(resource, ctx):
        return
    networks = props.get("masterAuthorizedNetworksConfig")
    if networks is UNKNOWN:
        return
    if known(networks) and not isinstance(networks, dict):
        report(
            cannot_verify(
                f"who reaches {resource.label}'s control plane", f"masterAuthorizedNetworksConfig is {networks!r}"
            )
        )
        return
    # Unset, GKE lets every Google Cloud public address (any customer's VM) reach the endpoint.
    gcp_public = get(networks, "gcpPublicCidrsAccessEnabled")
    if gcp_public is not UNKNOWN and gcp_public is not False:
        report(
            f"{resource.label} is a prod cluster whose control plane accepts all of Google Cloud's public "
            "addresses: set masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled=False"
        )
    if get(props, "privateClusterConfig", "enablePrivateEndpoint") is True:
        return
    if get(props, "controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled") is False:
        return
    blocks = [get(b, "cidrBlock") for b in as_list(get(networks, "cidrBlocks"))]
    if unreadable := _unreadable([b for b in blocks if b is not UNKNOWN]):
        report(cannot_verify(f"who reaches {resource.label}'s control plane", f"an authorized network's {unreadable}"))
        return
    if not known(networks):
        report(f"{resource.label} is a prod cluster whose public API endpoint accepts any network")
    elif open_to := [b for b in blocks if b in WORLD] or (
        covers_the_internet([b for b in blocks if isinstance(b, str)]) and blocks
    ):
        report(
            f"{resource.label} is a prod cluster whose API endpoint is authorized for {', '.join(map(str, open_to))}"
        )


@resource_rule(
    "cluster-hardening",
    "Clusters encrypt secrets with KMS, GKE nodes are private, and prod API endpoints are not open to the world.",
    MANDATORY,
    types=[EKS, GKE, GKE_NODE_POOL],
)
def cluster_hardening(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    if resource.type == EKS:
        _eks(resource, ctx, report)
    elif resource.type == GKE:
        _gke(resource, ctx, report)
    elif get(resource.props, "networkConfig", "enablePrivateNodes") is False:
        report(f"{resource.label} turns private nodes off (networkConfig.enablePrivateNodes false)")
