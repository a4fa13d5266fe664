"""Registry commands: validate, list, show, export, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cellctl.common import JsonOption, RegistryOption, console, err_console, load, print_json, resolve_cell


def validate(registry: RegistryOption = None) -> None:
    """Check the registry: exit 0 when valid, 2 with every error (file, field, reason) otherwise.

    Cells past their headroom line (within their limits) are printed as warnings; they do not fail.
    """
    from cells.tenants import capacity_warnings

    reg = load(registry)
    warnings = capacity_warnings(reg)
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    counts = f"{len(reg.cells)} cells, {len(reg.tenants)} tenants"
    tail = f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""
    console.print(f"[green]ok[/]: organization {reg.organization.name!r}, {counts}, no errors{tail}")


def list_cells(registry: RegistryOption = None, as_json: JsonOption = False) -> None:
    """List the cells: name, cloud, environment, region, wave, size and DNS zone."""
    reg = load(registry)
    rows = [
        {
            "name": c.name,
            "cloud": c.cloud,
            "environment": str(c.environment),
            "region": c.region,
            "wave": c.wave,
            "size": str(c.size),
            "dns": reg.zone_name(c),
            "stack": c.stack_name,
        }
        for c in reg.cells
    ]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"cells of {reg.organization.name}")
    for col in ("name", "cloud", "environment", "region", "wave", "size", "dns"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(row[col] for col in ("name", "cloud", "environment", "region", "wave", "size", "dns")))
    console.print(table)


def show(
    cell: Annotated[str, typer.Argument(help="Cell name (or its stack name, cell-<name>).")],
    registry: RegistryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one cell with its derived values (stack, DNS zone, tags, endpoints, access)."""
    from cells.export import cell_document

    reg = load(registry)
    found = resolve_cell(reg, cell)
    doc = cell_document(reg, found)
    doc["access"] = [r.model_dump(mode="json") for r in reg.access_for(found)]
    if as_json:
        print_json(doc)
        return
    from rich.table import Table

    table = Table(show_header=False, title=f"cell {found.name}")
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in doc.items():
        table.add_row(key, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
    console.print(table)


def export(
    registry: RegistryOption = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Export the whole registry as JSON (stable key order, derived values included)."""
    from cells.export import to_json

    text = to_json(load(registry))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


def schema(
    kind: Annotated[str, typer.Argument(help="`cell`, `organization` or `tenants`.")] = "cell",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of a cell file (or of organization.yaml, or of a tenant file) for editors."""
    from cells.export import cell_schema, organization_schema, tenants_schema

    schemas = {"cell": cell_schema, "organization": organization_schema, "tenants": tenants_schema}
    if kind not in schemas:
        from cellctl.common import fail

        fail(f"unknown schema {kind!r}: choose one of {', '.join(schemas)}")
    text = json.dumps(schemas[kind](), indent=2, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command("list")(list_cells)
    app.command()(show)
    app.command()(export)
    app.command()(schema)
