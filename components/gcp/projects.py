"""GCP cell projects: one folder per environment under the organization, one project per GCP cell.

Scope: folders and projects with billing and labels. Projects are created without the default
network (the cell stack builds its own), with an explicit deletion policy: PREVENT for prod (a
`pulumi destroy` cannot delete a prod cell's project) and DELETE elsewhere, and prod projects
are protected in Pulumi as well. A cell that names its own folder goes there instead of its
environment's folder. Non-goals: anything inside a project (APIs, network, cluster: the cell stack).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp


def folder_display_name(organization: str, environment: str) -> str:
    return f"{organization}-cells-{environment}"


def deletion_policy(prod: bool) -> str:
    """Prod projects refuse deletion outright; others go when their cell goes."""
    return "PREVENT" if prod else "DELETE"


@dataclass(frozen=True)
class CellProject:
    """One GCP cell's project."""

    project_id: str
    environment: str
    prod: bool
    """Deletion policy PREVENT and protected in Pulumi."""
    folder: str | None = None
    """`folders/<id>` to use instead of the environment's folder."""
    labels: dict[str, str] = field(default_factory=dict)


class CellProjectsArgs(TypedDict):
    organization: str
    """The organization's name (folder display names)."""
    organization_id: str
    """Numeric GCP organization id."""
    billing_account: str
    environments: Sequence[str]
    """Every environment: one folder each."""
    projects: Mapping[str, CellProject]
    """Projects by cell name."""


class CellProjects(pulumi.ComponentResource):
    folder_ids: dict[str, pulumi.Output[str]]
    project_ids: dict[str, pulumi.Output[str]]
    project_numbers: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: CellProjectsArgs,
        *,
        provider: gcp.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:gcp:CellProjects", name, None, opts)
        folders = {
            env: gcp.organizations.Folder(
                f"{name}-folder-{env}",
                display_name=folder_display_name(args["organization"], env),
                parent=f"organizations/{args['organization_id']}",
                deletion_protection=True,
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
            for env in args["environments"]
        }
        self.folder_ids = {env: folder.name for env, folder in folders.items()}
        self.project_ids = {}
        self.project_numbers = {}
        for cell, spec in args["projects"].items():
            if spec.folder is not None:
                folder_id: pulumi.Input[str] = spec.folder.removeprefix("folders/")
            elif spec.environment in folders:
                folder_id = folders[spec.environment].folder_id
            else:
                raise ValueError(f"cell {cell!r} is in environment {spec.environment!r}, which has no folder")
            project = gcp.organizations.Project(
                f"{cell}-project",
                project_id=spec.project_id,
                name=spec.project_id,
                folder_id=folder_id,
                billing_account=args["billing_account"],
                labels=dict(spec.labels),
                # The cell stack builds the cell's network; the default one would only widen it.
                auto_create_network=False,
                deletion_policy=deletion_policy(spec.prod),
                opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=spec.prod),
            )
            self.project_ids[cell] = project.project_id
            self.project_numbers[cell] = project.number
        self.register_outputs({"project_numbers": self.project_numbers, "folder_ids": self.folder_ids})
