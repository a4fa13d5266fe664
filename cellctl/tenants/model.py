"""The plain data placement and rebalancing work on: a cell's limits and a tenant's load and constraints.

Frozen dataclasses rather than the registry's pydantic models, so the engines are fast on 100,000
tenants and are tested without a registry. `cellctl.tenant_cmds` builds them from the registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cells.tenants import effective_limit


@dataclass(frozen=True)
class Cell:
    """A cell as placement sees it: where it is and how much it may hold."""

    name: str
    environment: str
    cloud: str
    region: str
    max_tenants: int
    max_daily_requests: int
    #: The organization's headroom: a cell should stay this many percent below both limits
    #: (`cells.tenants.effective_limit`, integer arithmetic: 85 % of 20 is 17, not 16.999...).
    headroom_percent: int = 15

    @property
    def tenant_limit(self) -> int:
        """Tenants the cell should hold at most (its limit minus headroom)."""
        return effective_limit(self.max_tenants, self.headroom_percent)

    @property
    def request_limit(self) -> int:
        """Daily requests the cell should serve at most (its limit minus headroom)."""
        return effective_limit(self.max_daily_requests, self.headroom_percent)

    @property
    def where(self) -> str:
        return f"{self.environment}, {self.cloud} {self.region}"


@dataclass(frozen=True)
class Tenant:
    """A tenant as placement sees it: its load and where it may live.

    `environments` are the *cell* environments the tenant may live in (the tenant model maps a
    tenant's own environment to them); `None` in any constraint means no restriction.
    """

    id: str
    requests: int
    cell: str | None = None
    regions: frozenset[str] | None = None
    clouds: frozenset[str] | None = None
    environments: frozenset[str] | None = None
    pinned: bool = False

    def allows(self, cell: Cell) -> bool:
        """Residency and environment both allow this cell."""
        return (
            (self.regions is None or cell.region in self.regions)
            and (self.clouds is None or cell.cloud in self.clouds)
            and (self.environments is None or cell.environment in self.environments)
        )

    @property
    def constraints(self) -> tuple[frozenset[str] | None, frozenset[str] | None, frozenset[str] | None]:
        """What decides which cells allow the tenant: tenants with equal constraints share the answer."""
        return (self.regions, self.clouds, self.environments)

    def describe_constraints(self) -> str:
        parts = []
        if self.environments is not None:
            parts.append(f"environment {'/'.join(sorted(self.environments))}")
        if self.regions is not None:
            parts.append(f"regions {', '.join(sorted(self.regions))}")
        if self.clouds is not None:
            parts.append(f"clouds {', '.join(sorted(self.clouds))}")
        return "; ".join(parts) or "no residency or environment constraint"


class CellIndex:
    """Cells grouped by what residency and environment look at, so a tenant's allowed cells are found by class."""

    def __init__(self, cells: Iterable[Cell]):
        self.cells: dict[str, Cell] = {}
        self.classes: dict[tuple[str, str, str], list[str]] = {}
        for cell in cells:
            if cell.name in self.cells:
                raise ValueError(f"cell {cell.name!r} is given twice")
            self.cells[cell.name] = cell
            self.classes.setdefault((cell.environment, cell.cloud, cell.region), []).append(cell.name)
        self._allowed: dict[object, list[str]] = {}

    def allowed(self, tenant: Tenant) -> list[str]:
        """The names of the cells the tenant's residency and environment allow, in a stable order."""
        key = tenant.constraints
        found = self._allowed.get(key)
        if found is None:
            found = sorted(
                name
                for (environment, cloud, region), names in self.classes.items()
                if (tenant.environments is None or environment in tenant.environments)
                and (tenant.clouds is None or cloud in tenant.clouds)
                and (tenant.regions is None or region in tenant.regions)
                for name in names
            )
            self._allowed[key] = found
        return found
