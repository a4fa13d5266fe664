"""CIDR lists read from a cell's stack config, checked before any resource is declared.

The registry's CIDRs are checked by `cells` (pydantic); these come from
`stacks/Pulumi.<stack>.yaml` (or `--config`), so they get the same rules here, and a bad value
is one message naming the setting and the file, never a cloud API error halfway through an `up`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cells.deploy import EGRESS_PREFIXES, MAX_PUBLIC_ACCESS_CIDRS, Cidr

if TYPE_CHECKING:  # `cellctl stacks sync --check` runs the check without the SDK
    import pulumi

#: Any network written a.b.c.d/p, but never "every address".
_ANY = Cidr(range(1, 33))
#: A range a public endpoint can see as a source (`cells.deploy.NOT_PUBLIC` excluded).
_PUBLIC = Cidr(EGRESS_PREFIXES, public=True)

#: Space no request ever comes from (this-network, loopback, link-local, multicast, reserved): not a
#: source any firewall or authorized-networks list can mean.
NEVER_A_SOURCE = tuple(
    ipaddress.IPv4Network(n) for n in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
)


class CellConfigError(ValueError):
    """The cell's stack config is wrong; the message says how to fix it."""


@dataclass(frozen=True)
class CidrSetting:
    key: str
    """The config key, without the `honeycomb:` namespace."""
    public: bool
    """Only public ranges (a public endpoint's sources)."""
    limit: int
    """How many the cloud takes."""


#: More networks on a non-prod EKS cluster's public endpoint (EKS quota: 40 per cluster).
EKS_PUBLIC_ACCESS = CidrSetting("eksPublicAccessCidrs", public=True, limit=MAX_PUBLIC_ACCESS_CIDRS)
#: More networks (a VPN, for example) on a GKE cluster's private IP endpoint: internal ranges are
#: the point. GKE takes up to 50 master authorized networks; the node subnet is always one of them.
GKE_AUTHORIZED_NETWORKS = CidrSetting("masterAuthorizedNetworks", public=False, limit=50 - 1)


def config_cidrs(config: pulumi.Config, setting: CidrSetting, *, stack: str) -> list[str]:
    """`honeycomb:<key>` as canonical IPv4 CIDRs (empty when unset)."""
    raw = config.get_object(setting.key)
    return [] if raw is None else parse_cidrs(raw, setting, stack=stack)


def parse_cidrs(raw: object, setting: CidrSetting, *, stack: str) -> list[str]:
    """The check itself, also what `cellctl stacks check` runs on a stack file's value."""
    where = f"honeycomb:{setting.key} in stacks/Pulumi.{stack}.yaml"
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise CellConfigError(f'{where} must be a list of CIDRs such as ["203.0.113.0/24"], got {raw!r}')
    if len(raw) > setting.limit:
        raise CellConfigError(f"{where} lists {len(raw)} CIDRs; at most {setting.limit} fit")
    cidrs = []
    for item in raw:
        if item.endswith("/0"):
            raise CellConfigError(f"{where}: {item} is every address; list your networks")
        try:
            text = str((_PUBLIC if setting.public else _ANY).check(item))
        except ValueError as exc:
            raise CellConfigError(f"{where}: {exc}") from None
        never = next((n for n in NEVER_A_SOURCE if ipaddress.IPv4Network(text).overlaps(n)), None)
        if never is not None:
            raise CellConfigError(f"{where}: {text} overlaps {never}, which no request comes from")
        cidrs.append(text)
    return list(dict.fromkeys(cidrs))
