"""The cell to add when no cell fits a tenant: a ready cell file, validated with the registry.

The new cell copies the cell most like it (same environment, then cloud, then region; the largest
capacity), takes the next free name in the registry's naming scheme (Greek letters or a numbered
prefix), the first free network block of the template's size and the wave that already holds most
cells of its environment, and is raised to hold the tenant after headroom when the template is
too small. The document is checked with every registry rule before it is offered.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import yaml

from cellctl.tenants.model import Tenant
from cells import RegistryError
from cells.export import registry_document
from cells.loader import load_registry_data
from cells.models import PRIVATE_RANGES, AwsCell, CellBase, GcpCell, Registry
from cells.tenants import effective_limit
from components.cidr import first_free

GREEK = (
    *("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"),
    *("nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"),
)
#: Which cell environment a new cell gets when the tenant allows several: prod first, dev last (it needs an owner).
ENVIRONMENT_ORDER = ("prod", "preprod", "dev")


class ProposalError(ValueError):
    """No cell can be proposed (no allowed region, no template, no free network)."""


@dataclass(frozen=True)
class Proposal:
    name: str
    document: dict[str, Any]
    reason: str

    @property
    def yaml(self) -> str:
        head = (
            "# yaml-language-server: $schema=../../schema/cell.schema.json\n"
            f"# Proposed by `cellctl tenants place`: {self.reason}\n"
        )
        return head + yaml.safe_dump(self.document, sort_keys=False, width=120)

    @property
    def path(self) -> str:
        return f"cells/{self.name}.yaml"


def next_name(taken: set[str]) -> str:
    """The next free name in the registry's scheme: `c0042` after `c0041`, `delta` after `gamma`."""
    numbered = [m for m in (re.fullmatch(r"([a-z][a-z0-9-]*?)([0-9]+)", n) for n in taken) if m]
    if len(numbered) > len(taken & set(GREEK)):
        prefix, _ = Counter(m.group(1) for m in numbered).most_common(1)[0]
        same = [m for m in numbered if m.group(1) == prefix]
        width = max(len(m.group(2)) for m in same)
        number = max(int(m.group(2)) for m in same) + 1
        while f"{prefix}{number:0{width}d}" in taken:
            number += 1
        return f"{prefix}{number:0{width}d}"
    for suffix in ("", *(f"-{i}" for i in range(2, 100))):
        for letter in GREEK:
            if f"{letter}{suffix}" not in taken:
                return f"{letter}{suffix}"
    raise ProposalError("no free cell name")  # pragma: no cover - 2,400 Greek names taken


def propose_cell(registry: Registry, tenant: Tenant) -> Proposal:
    """A new cell that allows `tenant` and holds it within its limits minus headroom."""
    org = registry.organization
    environments = [e for e in ENVIRONMENT_ORDER if tenant.environments is None or e in tenant.environments]
    places = [
        (cloud, region)
        for cloud, regions in (("aws", org.aws.allowed_regions), ("gcp", org.gcp.allowed_regions))
        for region in regions
        if (tenant.clouds is None or cloud in tenant.clouds) and (tenant.regions is None or region in tenant.regions)
    ]
    if not environments or not places:
        raise ProposalError(
            f"no region the organization allows ({', '.join(org.aws.allowed_regions + org.gcp.allowed_regions)}) "
            f"fits {tenant.describe_constraints()}: allow a region in organization.yaml first"
        )
    environment = environments[0]
    # Where the organization already runs cells of this environment, most first: the new cell joins them.
    present: Counter[tuple[str, str]] = Counter(
        (c.cloud, c.region) for c in registry.cells if str(c.environment) == environment
    )
    cloud, region = max(places, key=lambda p: (present[p], -places.index(p)))
    template = _template(registry, environment, cloud, region)
    name = next_name({c.name for c in registry.cells})
    headroom = org.capacity.headroom_percent
    capacity = template.capacity.model_dump()
    raised = ""
    # The smallest limit whose headroom line holds the tenant, rounded up to a whole million.
    needed = _ceil_div(_ceil_div(tenant.requests * 100, 100 - headroom), 1_000_000) * 1_000_000
    if tenant.requests > effective_limit(capacity["max_daily_requests"], headroom):
        capacity["max_daily_requests"] = needed
        raised = f", max_daily_requests raised to {needed:,} to hold the tenant after {headroom}% headroom"
    cidr = first_free([c.network.cidr for c in registry.cells], template.network.cidr.prefixlen, PRIVATE_RANGES)
    if cidr is None:
        raise ProposalError(f"no free /{template.network.cidr.prefixlen} is left in the private ranges")
    waves = Counter(c.wave for c in registry.cells if str(c.environment) == environment)
    order = [w.name for w in org.waves]
    usable = [w for w in order if environment != "prod" or w != order[0]] or order
    wave = (
        max(usable, key=lambda w: (waves[w], order.index(w))) if waves else usable[-1 if environment == "prod" else 0]
    )
    document: dict[str, Any] = {
        "name": name,
        "cloud": cloud,
        "environment": environment,
        "region": region,
        "wave": wave,
        "size": str(template.size),
        "network": {"cidr": str(cidr)},
        "capacity": capacity,
    }
    if isinstance(template, AwsCell):
        document["account_email"] = _renamed(template.account_email, template.name, name) or (
            f"aws+cell-{name}@{org.domain}"
        )
    else:
        assert isinstance(template, GcpCell)
        document["project_id"] = _renamed(template.project_id, template.name, name) or f"{org.name}-cell-{name}"
    if template.owner is not None:
        document["owner"] = template.owner
    reason = (
        f"a {environment} cell in {cloud} {region} for tenant {tenant.id} ({tenant.requests:,} daily requests), "
        f"sized like {template.name}{raised}"
    )
    _check(registry, document)
    return Proposal(name, document, reason)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _template(registry: Registry, environment: str, cloud: str, region: str) -> CellBase:
    same_cloud = [c for c in registry.cells if c.cloud == cloud]
    if not same_cloud:
        raise ProposalError(f"no {cloud} cell to copy the new cell's account settings from: write its file by hand")
    return max(
        same_cloud,
        key=lambda c: (
            str(c.environment) == environment,
            c.region == region,
            c.capacity.max_daily_requests,
            c.capacity.max_tenants,
            c.name,
        ),
    )


def _renamed(value: str, old: str, new: str) -> str | None:
    """The template's account email or project id with its cell name swapped, when it contains the name."""
    if not re.search(rf"(?<![a-z0-9]){re.escape(old)}(?![a-z0-9])", value):
        return None
    return re.sub(rf"(?<![a-z0-9]){re.escape(old)}(?![a-z0-9])", new, value)


def _check(registry: Registry, document: dict[str, Any]) -> None:
    data = registry_document(registry)
    data["tenants"] = []  # the tenants are already valid; the new cell is what is checked
    data["cells"] = [*data["cells"], document]
    try:
        load_registry_data(data, source=f"cells/{document['name']}.yaml")
    except RegistryError as exc:
        problems = "; ".join(issue.message for issue in exc.issues)
        raise ProposalError(f"the proposed cell {document['name']} would not validate: {problems}") from None
