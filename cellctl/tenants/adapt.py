"""From the registry's models to the engines' plain data, and back to tenant file entries."""

from __future__ import annotations

from cellctl.tenants.model import Cell, Tenant
from cells.models import Registry
from cells.tenants import CELL_ENVIRONMENTS, TenantEntry


def engine_cells(registry: Registry) -> list[Cell]:
    headroom = registry.organization.capacity.headroom_percent
    return [
        Cell(
            name=c.name,
            environment=str(c.environment),
            cloud=c.cloud,
            region=c.region,
            max_tenants=c.capacity.max_tenants,
            max_daily_requests=c.capacity.max_daily_requests,
            headroom_percent=headroom,
        )
        for c in registry.cells
    ]


def engine_tenant(entry: TenantEntry, cell: str | None) -> Tenant:
    """A tenant's load and constraints; its environment becomes the cell environments it may live in."""
    residency = entry.residency
    return Tenant(
        id=entry.id,
        requests=entry.daily_requests,
        cell=cell,
        regions=frozenset(residency.regions) if residency and residency.regions is not None else None,
        clouds=frozenset(residency.clouds) if residency and residency.clouds is not None else None,
        environments=frozenset(str(e) for e in CELL_ENVIRONMENTS[entry.environment]),
        pinned=entry.pinned,
    )


def engine_tenants(registry: Registry) -> list[Tenant]:
    return [engine_tenant(t, t.cell) for t in registry.tenants]


def cell_loads(registry: Registry) -> dict[str, tuple[int, int]]:
    """Per cell: (tenants, daily requests) it holds now."""
    load = {c.name: [0, 0] for c in registry.cells}
    for tenant in registry.tenants:
        load[tenant.cell][0] += 1
        load[tenant.cell][1] += tenant.daily_requests
    return {name: (n, r) for name, (n, r) in load.items()}


def file_entry(tenant: TenantEntry) -> TenantEntry:
    """The entry as its cell's file holds it (without the cell)."""
    return TenantEntry.model_validate(tenant.model_dump(mode="json", exclude={"cell"}))
