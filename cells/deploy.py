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
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, model_validator
from pydantic_core import core_schema

from cells.rules import Rule, canonical_cidr_regex, overlapping_regex

#: EKS quota "public endpoint access CIDR ranges per cluster".
MAX_PUBLIC_ACCESS_CIDRS = 40
#: Address space that is not publicly routed (IANA's special-purpose registry), so never the source a
#: public endpoint sees. The RFC 5737 documentation ranges are left out on purpose: samples and tests
#: use them as public addresses nobody owns. An explicit list, not `ipaddress.is_global`, whose
#: answer varies between Python versions, so the JSON Schema can state the same rule.
NOT_PUBLIC = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
#: A runner's egress is a few NAT addresses or a hosted runner's published ranges, never wider than a /8.
EGRESS_PREFIXES = range(8, 33)


def is_public(cidr: ipaddress.IPv4Network) -> bool:
    """A range a public endpoint can see as a source: it overlaps no address space in `NOT_PUBLIC`."""
    return not any(cidr.overlaps(reserved) for reserved in NOT_PUBLIC)


@dataclass(frozen=True)
class Cidr(Rule):
    """An IPv4 network written canonically (`a.b.c.d/p`, no host bits); `public` also refuses reserved space.

    Checked on the text as written, before parsing, because `ipaddress` also reads `10.0.0.0` and
    netmask forms that an editor's JSON Schema (and a reader) would not take for the same thing.
    """

    prefixes: range = range(0, 33)
    public: bool = False

    def check(self, value: Any) -> Any:
        text = str(value) if isinstance(value, ipaddress.IPv4Network) else value
        if not isinstance(text, str):
            raise ValueError(f"expected an IPv4 network a.b.c.d/p as text, got {value!r}")
        if self.public and text.endswith("/0"):
            raise ValueError(f"{text} is the whole internet: list the runner's egress addresses")
        if not re.fullmatch(canonical_cidr_regex(self.prefixes), text):
            raise ValueError(
                f"{text!r} is not an IPv4 network written a.b.c.d/p with no host bits "
                f"(p from {self.prefixes.start} to {self.prefixes.stop - 1})"
            )
        if self.public and not is_public(ipaddress.IPv4Network(text)):
            reserved = next(r for r in NOT_PUBLIC if ipaddress.IPv4Network(text).overlaps(r))
            raise ValueError(
                f"{text} is not a public range (it overlaps {reserved}): a cluster's public endpoint only sees "
                "public source addresses (a runner inside the network is kind: in-network)"
            )
        return text

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"pattern": canonical_cidr_regex(self.prefixes)}
        if self.public:
            schema["not"] = {"anyOf": [{"pattern": overlapping_regex(r, self.prefixes.start)} for r in NOT_PUBLIC]}
        return schema

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))


PublicCidr = Annotated[ipaddress.IPv4Network, Cidr(EGRESS_PREFIXES, public=True)]
AnyCidr = Annotated[ipaddress.IPv4Network, Cidr()]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CiRunner(_Strict):
    """A runner outside the cell's network, reaching cluster APIs over the internet."""

    kind: Literal["ci"]
    egress_cidrs: list[PublicCidr] = Field(
        min_length=1,
        max_length=MAX_PUBLIC_ACCESS_CIDRS,
        description="Public addresses the runner's traffic leaves from (NAT gateways, hosted runner ranges).",
    )


class InNetworkRunner(_Strict):
    """A runner inside the cell's network, reaching the cluster's private endpoint."""

    kind: Literal["in-network"]
    cidrs: list[AnyCidr] = Field(
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


def needs_agent_pool(runner: CiRunner | InNetworkRunner, *, cloud: str, environment: str) -> bool:
    """A prod AWS cell updated from inside its network keeps its cluster API private (`stacks.endpoint_access`),
    so Pulumi Deployments reach it only through agents in that network: the cell gets an agent pool."""
    return isinstance(runner, InNetworkRunner) and cloud == "aws" and environment == "prod"


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
