"""`cellctl capacity`: every cell's load against its limits, the cells the load needs, when cells fill."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cellctl.common import JsonOption, RegistryOption, console, fail, load, print_json

if TYPE_CHECKING:  # the engine loads when a command runs, not for `cellctl --help`
    from cells.capacity import Crossing, Report


def capacity(
    registry: RegistryOption = None,
    as_json: JsonOption = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also draw the chart to this file (.png or .svg).", show_default=False)
    ] = None,
    growth: Annotated[
        str | None,
        typer.Option("--growth", help="Daily requests grow by this rate, e.g. 5%/month: when does each cell fill?"),
    ] = None,
) -> None:
    """Per cell, tenants and daily requests against both limits and the headroom line, fullest first; totals;
    the cells the load needs with headroom and how many to add per environment and region."""
    from cells.capacity import CHART_FORMATS as FORMATS
    from cells.capacity import parse_growth, report, to_document

    monthly = None
    if growth is not None:
        try:
            monthly = parse_growth(growth)
        except ValueError as exc:
            fail(f"--growth: {exc}")
    if plot is not None and plot.suffix.lower() not in FORMATS:
        fail(
            f"--plot: {plot}: the chart is written as PNG or SVG ({', '.join(FORMATS)}), not {plot.suffix or 'nothing'}"
        )
    rep = report(load(registry), monthly_growth=monthly)
    if plot is not None:
        from cellctl.capacity_chart import draw

        try:
            draw(rep, plot)
        except OSError as exc:
            fail(f"--plot: cannot write {plot}: {exc.strerror or exc}")
    if as_json:
        print_json(to_document(rep))
        return
    _print(rep)
    if plot is not None:
        console.print(f"wrote {plot}")


def _print(rep: Report) -> None:
    from rich.table import Table

    from cells.capacity import short

    table = Table(title=f"cell capacity, fullest first (≤: the line {rep.headroom_percent} % under the limit)")
    for col in ("cell", "where", "tenants", "requests/day", "status"):
        table.add_column(col, justify="right" if col in ("tenants", "requests/day") else "left")
    if rep.monthly_growth is not None:
        table.add_column(f"at {rep.monthly_growth:.1%}/month: past line, limit")
    colours = {"ok": "green", "past headroom": "yellow", "over limit": "red"}
    for line in rep.cells:
        cap = line.capacity
        row = [
            cap.name,
            f"{cap.environment} {cap.region}",
            f"{cap.tenants:,}/{cap.max_tenants:,} ≤{cap.effective_max_tenants:,} {cap.tenant_pressure:.0%}",
            f"{short(cap.daily_requests)}/{short(cap.max_daily_requests)} "
            f"≤{short(cap.effective_max_daily_requests)} {cap.request_pressure:.0%}",
            f"[{colours[line.status]}]{line.status}[/]",
        ]
        if line.crossing is not None:
            row.append(
                ", ".join(
                    _when(rep, line.crossing, m)
                    for m in (line.crossing.months_to_headroom, line.crossing.months_to_limit)
                )
            )
        table.add_row(*row)
    console.print(table)
    totals = rep.totals
    console.print(
        f"total: {totals['tenants']:,} tenants of {totals['max_tenants']:,}, "
        f"{short(totals['daily_requests'])} of {short(totals['max_daily_requests'])} requests/day in "
        f"{totals['cells']} cells; the load needs {totals['cells_needed']} with {rep.headroom_percent} % headroom"
        + (f", {totals['cells_to_add']} more to add" if totals["cells_to_add"] else "")
    )
    groups = Table(title="cells needed per environment and region")
    for col in ("environment", "region", "cells", "tenants", "requests/day", "needed", "to add"):
        groups.add_column(col)
    for g in rep.groups:
        groups.add_row(
            g.environment,
            g.region,
            str(g.cells),
            f"{g.tenants:,}",
            short(g.daily_requests),
            str(g.needed),
            f"[red]{g.to_add}[/]" if g.to_add else "0",
        )
    console.print(groups)


def _when(rep: Report, crossing: Crossing, months: float | None) -> str:
    day = crossing.on(rep.today, months)
    if months is None or day is None:
        return "never"
    return "now" if months == 0 else f"{months:.1f} mo ({day.isoformat()})"


def register(app: typer.Typer) -> None:
    app.command()(capacity)
