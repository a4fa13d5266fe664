"""Tenants: who lives in which cell, and how full each cell is.

Scope: the tenant file model (`cells/registry/tenants/<cell>.yaml`, one file per cell), the rules
that need the whole registry (known cell, residency, environment, limits, unique ids and domains)
and `capacities`, the per-cell load against the cell's limits that the capacity report, placement
and rebalancing all start from. Pure data: no Pulumi, no I/O beyond what the loader hands in.

One file per cell because a cell's file is what a move or a rebalance edits and a reviewer reads:
moving a tenant is a small diff in two files, and changes to different cells never conflict.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import ConfigDict, Field, model_validator
from pydantic import Strict as NoCoercion

from cells.models import DnsLabel, Environment, Integer, Strict
from cells.regions import KNOWN_REGIONS
from cells.rules import Pattern, Rule

if TYPE_CHECKING:
    from cells.models import AwsCell, GcpCell, Registry

#: Where tenant files live inside a registry directory.
TENANTS_DIR = "tenants"

TenantId = Annotated[
    str,
    Pattern(
        r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$",
        "{value!r} is not a tenant id: a DNS label of lowercase letters, digits and hyphens, "
        "starting with a letter, not ending with a hyphen, at most 63 characters",
    ),
    Field(description="A DNS label, unique across the organization."),
]
Hostname = Annotated[
    str,
    Pattern(
        r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        "{value!r} is not a lowercase host name such as api.example.com",
    ),
    Field(max_length=253, description="A lowercase fully qualified host name."),
]


@dataclass(frozen=True)
class AnyKnownRegion(Rule):
    """A region of either cloud: residency may name regions of both."""

    def check(self, value: str) -> str:
        if value not in KNOWN_REGIONS["aws"] | KNOWN_REGIONS["gcp"]:
            raise ValueError(f"unknown region {value!r} (neither an AWS nor a GCP region)")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"enum": sorted(KNOWN_REGIONS["aws"] | KNOWN_REGIONS["gcp"])}


KnownRegion = Annotated[str, AnyKnownRegion()]


class TenantEnvironment(StrEnum):
    prod = "prod"
    sandbox = "sandbox"


#: Which cells a tenant of each environment may live in. Prod tenants only in prod cells. Sandbox
#: tenants (a customer's test tenant, internal demos) live in pre-production or dev cells: they get
#: the release candidates first, which is what a sandbox is for, and their test traffic never takes
#: a prod cell's capacity or shares its blast radius.
CELL_ENVIRONMENTS: dict[TenantEnvironment, frozenset[Environment]] = {
    TenantEnvironment.prod: frozenset({Environment.prod}),
    TenantEnvironment.sandbox: frozenset({Environment.preprod, Environment.dev}),
}


class Residency(Strict):
    """Where a tenant's data may live: any of `regions`, and only on `clouds`; both must hold."""

    # The schema's form of `_not_empty`.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["regions"], "properties": {"regions": {"type": "array"}}},
                {"required": ["clouds"], "properties": {"clouds": {"type": "array"}}},
            ]
        }
    )

    regions: list[KnownRegion] | None = Field(default=None, min_length=1, description="Allowed regions (any cloud).")
    clouds: list[Literal["aws", "gcp"]] | None = Field(default=None, min_length=1, description="Allowed clouds.")

    @model_validator(mode="after")
    def _not_empty(self) -> Residency:
        if self.regions is None and self.clouds is None:
            raise ValueError("residency must name regions, clouds or both (remove it to allow anywhere)")
        return self

    def allows(self, cloud: str, region: str) -> bool:
        return (self.regions is None or region in self.regions) and (self.clouds is None or cloud in self.clouds)

    def describe(self) -> str:
        parts = []
        if self.regions is not None:
            parts.append(f"regions {', '.join(self.regions)}")
        if self.clouds is not None:
            parts.append(f"clouds {', '.join(self.clouds)}")
        return " and ".join(parts) or "anywhere"


class TenantEntry(Strict):
    """One tenant as its cell's file writes it (the file names the cell)."""

    id: TenantId
    display_name: str = Field(min_length=1, max_length=200)
    environment: TenantEnvironment
    daily_requests: Integer = Field(ge=0, description="Expected requests per day.")
    residency: Residency | None = Field(default=None, description="Where it may live; absent: anywhere.")
    custom_domain: Hostname | None = Field(default=None, description="The tenant's own host name, unique.")
    pinned: Annotated[bool, NoCoercion()] = Field(
        default=False, description="Never moved automatically (placement and rebalancing)."
    )

    def allowed_in(self, cloud: str, region: str, environment: Environment | str) -> bool:
        """Residency and environment both allow a cell of this cloud, region and environment."""
        residency_ok = self.residency is None or self.residency.allows(cloud, region)
        return residency_ok and Environment(environment) in CELL_ENVIRONMENTS[self.environment]


class Tenant(TenantEntry):
    """A tenant with the cell it lives in: what `Registry.tenants` holds and `cellctl export` writes."""

    cell: DnsLabel


class TenantFile(Strict):
    """`tenants/<cell>.yaml`: the tenants of one cell."""

    cell: DnsLabel = Field(description="The cell these tenants live in; the file is <cell>.yaml.")
    tenants: list[TenantEntry] = Field(default_factory=list)

    def resolved(self) -> list[Tenant]:
        # Every field is validated already; building without validating again keeps 100,000 tenants fast.
        return [Tenant.model_construct(**entry.__dict__, cell=self.cell) for entry in self.tenants]


def tenant_file_document(cell: str, tenants: Iterable[TenantEntry]) -> dict[str, Any]:
    """The content of a cell's tenant file, tenants sorted by id, defaults left out (small diffs)."""
    ordered = sorted(tenants, key=lambda t: t.id)
    return {
        "cell": cell,
        "tenants": [t.model_dump(mode="json", exclude_defaults=True, exclude={"cell"}) for t in ordered],
    }


def dump_tenant_file(cell: str, tenants: Iterable[TenantEntry]) -> str:
    """A cell's tenant file as YAML, with the schema line editors read."""
    body = yaml.safe_dump(tenant_file_document(cell, tenants), sort_keys=False, width=120)
    return "# yaml-language-server: $schema=../../schema/tenants.schema.json\n" + body


# --- capacity -----------------------------------------------------------------------------------


def effective_limit(limit: int, headroom_percent: int) -> int:
    """The limit minus the headroom, rounded down: what a cell should hold at most."""
    return limit * (100 - headroom_percent) // 100


@dataclass(frozen=True)
class CellCapacity:
    """One cell's load against its limits: plain data that capacity, placement and rebalancing share."""

    name: str
    environment: str
    region: str
    cloud: str
    max_tenants: int
    max_daily_requests: int
    #: The limits minus the organization's headroom.
    effective_max_tenants: int
    effective_max_daily_requests: int
    tenants: int = 0
    daily_requests: int = 0

    @property
    def tenant_pressure(self) -> float:
        return self.tenants / self.max_tenants

    @property
    def request_pressure(self) -> float:
        return self.daily_requests / self.max_daily_requests

    @property
    def pressure(self) -> float:
        """The fuller of the two limits, as a fraction of the limit (1.0 is full)."""
        return max(self.tenant_pressure, self.request_pressure)

    @property
    def over_limit(self) -> bool:
        return self.tenants > self.max_tenants or self.daily_requests > self.max_daily_requests

    @property
    def over_headroom(self) -> bool:
        return self.tenants > self.effective_max_tenants or self.daily_requests > self.effective_max_daily_requests


def cell_capacity(cell: AwsCell | GcpCell, headroom_percent: int, tenants: Sequence[TenantEntry] = ()) -> CellCapacity:
    limits = cell.capacity
    return CellCapacity(
        name=cell.name,
        environment=str(cell.environment),
        region=cell.region,
        cloud=cell.cloud,
        max_tenants=limits.max_tenants,
        max_daily_requests=limits.max_daily_requests,
        effective_max_tenants=effective_limit(limits.max_tenants, headroom_percent),
        effective_max_daily_requests=effective_limit(limits.max_daily_requests, headroom_percent),
        tenants=len(tenants),
        daily_requests=sum(t.daily_requests for t in tenants),
    )


def tenants_by_cell(tenants: Iterable[Tenant]) -> dict[str, list[Tenant]]:
    grouped: dict[str, list[Tenant]] = defaultdict(list)
    for tenant in tenants:
        grouped[tenant.cell].append(tenant)
    return grouped


def capacities(registry: Registry) -> list[CellCapacity]:
    """Every cell's load and limits, in the registry's cell order."""
    headroom = registry.organization.capacity.headroom_percent
    grouped = tenants_by_cell(registry.tenants)
    return [cell_capacity(cell, headroom, grouped.get(cell.name, [])) for cell in registry.cells]


def limit_problems(cap: CellCapacity, headroom_percent: int) -> tuple[list[str], list[str]]:
    """(errors, warnings) for one cell: over a limit is an error, past the headroom line a warning."""
    errors, warnings = [], []
    for what, load, limit, effective in (
        ("tenants", cap.tenants, cap.max_tenants, cap.effective_max_tenants),
        ("daily requests", cap.daily_requests, cap.max_daily_requests, cap.effective_max_daily_requests),
    ):
        field = "max_tenants" if what == "tenants" else "max_daily_requests"
        if load > limit:
            errors.append(
                f"cell {cap.name!r} holds {load:,} {what}, over its limit capacity.{field} {limit:,} "
                f"(cells/{cap.name}.yaml): move tenants out or raise the limit"
            )
        elif load > effective:
            warnings.append(
                f"cell {cap.name!r} holds {load:,} {what}, past its headroom line {effective:,} "
                f"(capacity.{field} {limit:,} minus {headroom_percent} %): plan a move or another cell"
            )
    return errors, warnings


def capacity_warnings(registry: Registry) -> list[str]:
    """Each cell past its headroom line (but within its limits), named by its tenant file."""
    headroom = registry.organization.capacity.headroom_percent
    return [
        f"{TENANTS_DIR}/{cap.name}.yaml: tenants: {message}"
        for cap in capacities(registry)
        for message in limit_problems(cap, headroom)[1]
    ]
