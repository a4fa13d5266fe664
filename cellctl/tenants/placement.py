"""Placement: which cell a new tenant goes to.

Residency and environment decide which cells may hold the tenant; of those, the cell that keeps
the most headroom after the placement wins: the smaller of its free tenant slots and its free daily
requests, each as a fraction of the cell's limit minus headroom, so a cell nearly full on either
limit ranks low. A placement never takes a cell over either limit minus headroom. When no cell
fits the caller proposes a new cell (`cellctl.tenants.newcell`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cellctl.tenants.model import Cell, CellIndex, Tenant


@dataclass(frozen=True)
class Placement:
    """The chosen cell (or `None`) and the one line that says why."""

    tenant: str
    cell: str | None
    explanation: str
    #: How many cells residency and environment allow.
    allowed: int
    #: Free tenant slots and daily requests in the chosen cell after placement, below its limits minus headroom.
    tenants_free: int | None = None
    requests_free: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "tenant": self.tenant,
            "cell": self.cell,
            "explanation": self.explanation,
            "allowed_cells": self.allowed,
            "tenants_free_after": self.tenants_free,
            "requests_free_after": self.requests_free,
        }


def headroom_after(cell: Cell, tenants: int, requests: int, extra_requests: int) -> float | None:
    """The headroom a cell keeps after taking one more tenant of `extra_requests`, or `None` when it does not fit."""
    tenant_limit, request_limit = cell.tenant_limit, cell.request_limit
    free_tenants = tenant_limit - tenants - 1
    free_requests = request_limit - requests - extra_requests
    if free_tenants < 0 or free_requests < 0:
        return None
    # A limit of 0 (a tiny limit minus headroom) leaves no headroom to keep, only a fit or not.
    return min(
        free_tenants / tenant_limit if tenant_limit else 0.0, free_requests / request_limit if request_limit else 0.0
    )


class Placer:
    """Places tenants one after another, each seeing the load of the ones placed before it."""

    def __init__(self, cells: Iterable[Cell], load: Mapping[str, tuple[int, int]] | None = None):
        self.index = CellIndex(cells)
        #: Per cell: (tenants, daily requests) it holds now.
        self.load: dict[str, list[int]] = {name: [0, 0] for name in self.index.cells}
        for name, (tenants, requests) in (load or {}).items():
            if name not in self.load:
                raise ValueError(f"load is given for {name!r}, which is not a cell")
            self.load[name] = [tenants, requests]

    def place(self, tenant: Tenant) -> Placement:
        """The cell for `tenant` (changes nothing; `add` records it)."""
        allowed = self.index.allowed(tenant)
        what = tenant.describe_constraints()
        if not allowed:
            return Placement(
                tenant.id, None, f"no cell allows it: {what} matches none of the {len(self.index.cells)} cells", 0
            )
        best: str | None = None
        best_score = -1.0
        for name in allowed:
            tenants, requests = self.load[name]
            score = headroom_after(self.index.cells[name], tenants, requests, tenant.requests)
            if score is not None and score > best_score:
                best, best_score = name, score
        if best is None:
            return Placement(tenant.id, None, self._none_fits(tenant, allowed, what), len(allowed))
        cell = self.index.cells[best]
        tenants, requests = self.load[best]
        free_tenants = cell.tenant_limit - tenants - 1
        free_requests = cell.request_limit - requests - tenant.requests
        line = (
            f"{best} ({cell.where}) keeps the most headroom after placement of the {_cells(len(allowed))} "
            f"allowed ({what}): {_share(free_requests, cell.request_limit)} of its daily requests "
            f"({free_requests:,}) and {_share(free_tenants, cell.tenant_limit)} of its tenant slots ({free_tenants}) "
            f"stay free below its limits minus {cell.headroom_percent}% headroom"
        )
        return Placement(tenant.id, best, line, len(allowed), free_tenants, free_requests)

    def add(self, tenant: Tenant, cell: str) -> None:
        """Record that `tenant` now lives in `cell`."""
        self.load[cell][0] += 1
        self.load[cell][1] += tenant.requests

    def _none_fits(self, tenant: Tenant, allowed: list[str], what: str) -> str:
        def room(name: str) -> tuple[int, int]:
            cell, (tenants, requests) = self.index.cells[name], self.load[name]
            return cell.request_limit - requests, cell.tenant_limit - tenants

        roomiest = max(allowed, key=lambda n: (room(n)[1] > 0, room(n)[0]))
        free_requests, free_tenants = room(roomiest)
        return (
            f"no cell fits: each of the {_cells(len(allowed))} allowed ({what}) would go over its limits minus "
            f"headroom with one more tenant of {tenant.requests:,} daily requests (the most room: {roomiest}, "
            f"{max(free_requests, 0):,} daily requests and {max(free_tenants, 0)} tenant slots free)"
        )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "0%"


def _cells(n: int) -> str:
    return "1 cell" if n == 1 else f"{n} cells"


def place(tenant: Tenant, cells: Iterable[Cell], load: Mapping[str, tuple[int, int]] | None = None) -> Placement:
    """The cell for one new tenant, given each cell's current (tenants, daily requests)."""
    return Placer(cells, load).place(tenant)
