"""Where deployments run: the runner that executes `pulumi up` for a stack.

A cell stack installs Helm charts and workloads through its Kubernetes provider, so the machine
running the update must reach the cell's cluster API. The registry says where that machine is:

- `kind: ci` — a CI runner outside the cell's network whose public egress addresses are known
  (`egress_cidrs`). An EKS cluster then opens its public endpoint to exactly those addresses
  (and to nothing else in prod); a GKE cluster is reached through its IAM-authorized DNS endpoint.
- `kind: in-network` — a runner inside the cell's network (an agent pool in the cell's VPC):
  its addresses there (`cidrs`, inside the cell's `network.cidr`) and/or, on AWS, its security
  group (`security_group_id`). The EKS cluster security group admits 443 from them; the public
  endpoint stays off in prod.

The organization declares the default (`deploy.runner`), a cell may override it (`deploy.runner`
in the cell file). Cross-file rules (in-network CIDRs inside the cell's network, security groups
only on AWS) live in `cells.loader`. No Pulumi import here.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: EKS quota "public endpoint access CIDR ranges per cluster".
MAX_PUBLIC_ACCESS_CIDRS = 40
#: RFC 5737 documentation ranges: not routed, so samples and tests use them as "public" addresses nobody owns.
DOCUMENTATION = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))


def is_public(cidr: ipaddress.IPv4Network) -> bool:
    """A range a public endpoint can see as a source (documentation ranges count, for samples)."""
    return cidr.is_global or any(cidr.subnet_of(doc) for doc in DOCUMENTATION)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CiRunner(_Strict):
    """A runner outside the cell's network, reaching cluster APIs over the internet."""

    kind: Literal["ci"]
    egress_cidrs: list[ipaddress.IPv4Network] = Field(
        min_length=1,
        max_length=MAX_PUBLIC_ACCESS_CIDRS,
        description="Public addresses the runner's traffic leaves from (NAT gateways, hosted runner ranges).",
    )

    @field_validator("egress_cidrs")
    @classmethod
    def _public(cls, cidrs: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
        for cidr in cidrs:
            if cidr.prefixlen == 0:
                raise ValueError(f"{cidr} is the whole internet: list the runner's egress addresses")
            if not is_public(cidr):
                raise ValueError(
                    f"{cidr} is not a public range: a cluster's public endpoint only sees public source "
                    "addresses (a runner inside the network is kind: in-network)"
                )
        return cidrs


class InNetworkRunner(_Strict):
    """A runner inside the cell's network, reaching the cluster's private endpoint."""

    kind: Literal["in-network"]
    cidrs: list[ipaddress.IPv4Network] = Field(
        default_factory=list, description="The runner's addresses, inside the cell's network.cidr."
    )
    security_group_id: str | None = Field(
        default=None,
        pattern=r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$",
        description="AWS only: the runner's security group in the cell's VPC.",
    )

    @model_validator(mode="after")
    def _something(self) -> InNetworkRunner:
        if not self.cidrs and self.security_group_id is None:
            raise ValueError("an in-network runner needs its cidrs, its security_group_id (AWS) or both")
        return self


Runner = Annotated[CiRunner | InNetworkRunner, Field(discriminator="kind")]
RUNNER_KINDS = ("ci", "in-network")


class Deploy(_Strict):
    """Where the stack's updates run."""

    runner: Runner


def runner_problems(
    runner: CiRunner | InNetworkRunner, *, cloud: str, network: ipaddress.IPv4Network, inherited: bool
) -> list[tuple[str, str]]:
    """(field path, reason) for a cell's runner that cannot reach its cluster: used by `cells.loader`.

    A cell's VPC has no peering or transit routes, so an in-network runner's addresses must be in
    the cell's own network; a security group id only means something in an AWS cell's VPC.
    """
    if not isinstance(runner, InNetworkRunner):
        return []
    where = "deploy.runner" if not inherited else "deploy"
    origin = "" if not inherited else " (inherited from the organization's deploy.runner: give the cell its own)"
    problems = []
    for i, cidr in enumerate(runner.cidrs):
        if not cidr.subnet_of(network):
            problems.append(
                (
                    f"{where}.cidrs[{i}]" if not inherited else where,
                    f"in-network runner address {cidr} is not inside the cell's network {network}{origin}",
                )
            )
    if runner.security_group_id is not None and cloud != "aws":
        problems.append(
            (
                f"{where}.security_group_id" if not inherited else where,
                f"security_group_id {runner.security_group_id} is an AWS security group; a {cloud} cell's "
                f"in-network runner is given by its cidrs{origin}",
            )
        )
    if cloud != "aws" and not runner.cidrs:
        problems.append((where, f"a {cloud} cell's in-network runner needs its cidrs{origin}"))
    return problems
