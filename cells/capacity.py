"""The capacity report: how full each cell is, how many cells the load needs, when cells fill up.

Pure arithmetic on `cells.tenants.CellCapacity`; `cellctl capacity` prints it and draws it.

Sizing follows the rule teams that run cells use: the cells a load needs are the total load over
one cell's limits, inflated by the headroom (`ceil(load / limit * (1 + headroom))`), taken per
environment and region, since a tenant can move only to a cell of its environment and, with
residency, of its region. With a growth rate, each cell's daily requests grow by that rate,
compounded monthly; tenant counts grow by placement, not by themselves.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cells.models import Registry
from cells.tenants import CellCapacity, capacities

#: What `cellctl capacity --plot` writes.
CHART_FORMATS = (".png", ".svg")
#: Days in an average month, for turning months into a date.
MONTH_DAYS = 365.25 / 12
_PERIODS = {"day": 365.25 / 12, "week": 365.25 / 12 / 7, "month": 1.0, "year": 1 / 12}
_GROWTH = re.compile(r"^\s*(-?[0-9]+(\.[0-9]+)?)\s*%\s*(/|per\s+)\s*(day|week|month|year)\s*$")


def short(n: float) -> str:
    """12,500,000 as 12.5M, 85,000 as 85k: request counts at a glance."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:,.1f}".removesuffix(".0") + suffix
    return f"{n:,.0f}"


def parse_growth(text: str) -> float:
    """`5%/month` (or `/day`, `/week`, `/year`) as a monthly rate (0.05); ValueError with the reason."""
    match = _GROWTH.match(text)
    if not match:
        raise ValueError(f"growth {text!r} is not a rate such as 5%/month (periods: day, week, month, year)")
    rate, period = float(match.group(1)) / 100, match.group(4)
    if rate <= -1:
        raise ValueError(f"growth {text!r} shrinks by 100 % or more")
    # Compounded: a rate per period is (1 + r) ** (periods per month) per month.
    return float((1 + rate) ** _PERIODS[period] - 1)


def months_until(load: float, line: float, monthly_growth: float) -> float | None:
    """Months until `load`, growing monthly, passes `line`: 0 when past it already, None when never."""
    if load > line:
        return 0.0
    if load <= 0 or monthly_growth <= 0:
        return None
    return math.log(line / load) / math.log1p(monthly_growth)


@dataclass(frozen=True)
class Crossing:
    """When a cell's daily requests pass its headroom line and its limit, at the report's growth rate."""

    months_to_headroom: float | None
    months_to_limit: float | None

    def on(self, today: date, months: float | None) -> date | None:
        return None if months is None else today + timedelta(days=round(months * MONTH_DAYS))


@dataclass(frozen=True)
class CellLine:
    capacity: CellCapacity
    crossing: Crossing | None

    @property
    def status(self) -> str:
        if self.capacity.over_limit:
            return "over limit"
        return "past headroom" if self.capacity.over_headroom else "ok"


@dataclass(frozen=True)
class Group:
    """The cells of one environment and region, and how many cells their load needs."""

    environment: str
    region: str
    cells: int
    tenants: int
    daily_requests: int
    max_tenants: int
    max_daily_requests: int
    needed: int

    @property
    def to_add(self) -> int:
        return max(0, self.needed - self.cells)


@dataclass(frozen=True)
class Report:
    headroom_percent: int
    monthly_growth: float | None
    today: date
    cells: list[CellLine]
    groups: list[Group]

    @property
    def totals(self) -> dict[str, int]:
        caps = [line.capacity for line in self.cells]
        return {
            "cells": len(caps),
            "tenants": sum(c.tenants for c in caps),
            "daily_requests": sum(c.daily_requests for c in caps),
            "max_tenants": sum(c.max_tenants for c in caps),
            "max_daily_requests": sum(c.max_daily_requests for c in caps),
            "effective_max_tenants": sum(c.effective_max_tenants for c in caps),
            "effective_max_daily_requests": sum(c.effective_max_daily_requests for c in caps),
            "cells_needed": sum(g.needed for g in self.groups),
            "cells_to_add": sum(g.to_add for g in self.groups),
        }


def cells_needed(load: int, cell_limit: float, headroom_percent: int) -> int:
    """Cells of `cell_limit` that hold `load` with the headroom on top."""
    if load <= 0:
        return 0
    # Integer arithmetic where it can be: 0.8 * 1.15 must not round up to a second cell.
    return math.ceil(round(load * (100 + headroom_percent) / cell_limit, 9) / 100)


def group_of(caps: list[CellCapacity], headroom_percent: int) -> Group:
    """One environment and region; a cell's limits there are the mean of its cells' limits."""
    first = caps[0]
    tenants, requests = sum(c.tenants for c in caps), sum(c.daily_requests for c in caps)
    max_tenants, max_requests = sum(c.max_tenants for c in caps), sum(c.max_daily_requests for c in caps)
    needed = max(
        cells_needed(tenants, max_tenants / len(caps), headroom_percent),
        cells_needed(requests, max_requests / len(caps), headroom_percent),
    )
    return Group(first.environment, first.region, len(caps), tenants, requests, max_tenants, max_requests, needed)


def report(registry: Registry, *, monthly_growth: float | None = None, today: date | None = None) -> Report:
    headroom = registry.organization.capacity.headroom_percent
    return build(capacities(registry), headroom, monthly_growth=monthly_growth, today=today)


def build(
    caps: list[CellCapacity], headroom_percent: int, *, monthly_growth: float | None = None, today: date | None = None
) -> Report:
    lines = []
    for cap in sorted(caps, key=lambda c: (-c.pressure, c.name)):
        crossing = None
        if monthly_growth is not None:
            crossing = Crossing(
                months_until(cap.daily_requests, cap.effective_max_daily_requests, monthly_growth),
                months_until(cap.daily_requests, cap.max_daily_requests, monthly_growth),
            )
        lines.append(CellLine(cap, crossing))
    grouped: dict[tuple[str, str], list[CellCapacity]] = defaultdict(list)
    for cap in caps:
        grouped[(cap.environment, cap.region)].append(cap)
    groups = [group_of(grouped[key], headroom_percent) for key in sorted(grouped)]
    return Report(headroom_percent, monthly_growth, today or date.today(), lines, groups)


def _rounded(months: float | None) -> float | None:
    return None if months is None else round(months, 1)


def to_document(rep: Report) -> dict[str, Any]:
    """The report as JSON: the figures the table and the chart show."""
    cells = []
    for line in rep.cells:
        cap = line.capacity
        doc: dict[str, Any] = {
            "name": cap.name,
            "environment": cap.environment,
            "cloud": cap.cloud,
            "region": cap.region,
            "tenants": cap.tenants,
            "max_tenants": cap.max_tenants,
            "effective_max_tenants": cap.effective_max_tenants,
            "daily_requests": cap.daily_requests,
            "max_daily_requests": cap.max_daily_requests,
            "effective_max_daily_requests": cap.effective_max_daily_requests,
            "pressure": round(cap.pressure, 4),
            "status": line.status,
        }
        if line.crossing is not None:
            c = line.crossing
            doc["crossing"] = {
                "months_to_headroom": _rounded(c.months_to_headroom),
                "months_to_limit": _rounded(c.months_to_limit),
                "headroom_on": _iso(c.on(rep.today, c.months_to_headroom)),
                "limit_on": _iso(c.on(rep.today, c.months_to_limit)),
            }
        cells.append(doc)
    return {
        "headroom_percent": rep.headroom_percent,
        "monthly_growth": rep.monthly_growth,
        "today": rep.today.isoformat(),
        "cells": cells,
        "totals": rep.totals,
        "groups": [
            {
                "environment": g.environment,
                "region": g.region,
                "cells": g.cells,
                "tenants": g.tenants,
                "daily_requests": g.daily_requests,
                "cells_needed": g.needed,
                "cells_to_add": g.to_add,
            }
            for g in rep.groups
        ],
    }


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
