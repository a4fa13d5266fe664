"""How a cell's cluster API is reachable, derived from where its updates run (`cells.deploy`).

The same stack that creates the cluster installs add-ons and workloads through it, so the
declared runner must reach the API on the first `pulumi up`:

- a `ci` runner reaches the public endpoint, opened to its egress CIDRs only (in prod to nothing
  else; non-prod cells may add `honeycomb:eksPublicAccessCidrs` for people);
- an `in-network` runner reaches the private endpoint (always on), through 443 rules on the
  cluster security group from its CIDRs and security group; the public endpoint stays off unless
  a non-prod cell's config opens it.

Pure: no resources here; `stacks.cell_aws` passes the result to `components.aws.cluster`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cells import AwsCell, Environment
from cells.deploy import MAX_PUBLIC_ACCESS_CIDRS, CiRunner, InNetworkRunner


class EndpointAccessError(ValueError):
    """The runner's and the stack's CIDRs together break an EKS limit; the message says which."""


@dataclass(frozen=True)
class EndpointAccess:
    public_cidrs: list[str]
    """Networks allowed on the public endpoint; empty turns it off."""
    ingress_cidrs: list[str]
    """Networks the cluster security group admits on 443 (in-network runners)."""
    ingress_security_groups: list[str]
    """Security groups the cluster security group admits on 443 (in-network runners)."""


def eks_endpoint_access(cell: AwsCell, runner: CiRunner | InNetworkRunner, config_cidrs: list[str]) -> EndpointAccess:
    """Endpoint access for `cell` updated from `runner`; `config_cidrs` are the stack's extra non-prod CIDRs."""
    extra = [] if cell.environment == Environment.prod else list(config_cidrs)
    if isinstance(runner, CiRunner):
        public = list(dict.fromkeys([*(str(c) for c in runner.egress_cidrs), *extra]))
        if len(public) > MAX_PUBLIC_ACCESS_CIDRS:
            raise EndpointAccessError(
                f"cell {cell.name}: the deploy runner's egress_cidrs and honeycomb:eksPublicAccessCidrs make "
                f"{len(public)} public access CIDRs; EKS allows {MAX_PUBLIC_ACCESS_CIDRS} per cluster"
            )
        return EndpointAccess(public, [], [])
    groups = [runner.security_group_id] if runner.security_group_id else []
    return EndpointAccess(extra, [str(c) for c in runner.cidrs], groups)
