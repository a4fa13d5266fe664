"""Access to a cell's GCP project: the one provider every resource of the cell goes through.

The project itself is created by the management stack (with its billing account, folder and
labels); the cell stack only works inside it. The provider pins the project and region, so a
resource that forgets to name its project still lands in the cell's project, and it puts the
cell's labels on every labelable resource as `default_labels`.

Its logical name (`<cell>-gcp`) and its place at the top of the stack (no parent) never change:
a provider's URN is part of every resource that uses it, and renaming or re-parenting the
provider would replace the whole cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi_gcp as gcp


def provider_name(cell: str) -> str:
    """The provider's logical name: stable from day one."""
    return f"{cell}-gcp"


@dataclass(frozen=True)
class CellProjectArgs:
    cell: str
    """The cell's name: names the provider."""
    project_id: str
    """The cell's GCP project (created by the management stack)."""
    region: str
    """The cell's region; every regional resource of the cell lives there."""
    labels: dict[str, str] = field(default_factory=dict)
    """Default labels (cell, environment, managed-by) the provider puts on every labelable resource."""


def cell_provider(args: CellProjectArgs) -> gcp.Provider:
    """The cell's GCP provider, at the root of the stack under its stable name."""
    return gcp.Provider(
        provider_name(args.cell),
        project=args.project_id,
        region=args.region,
        default_labels=dict(args.labels),
    )
