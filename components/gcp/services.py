"""The Google APIs a cell uses, enabled on the cell's project.

Services are never disabled on destroy: the project may outlive the stack (the management stack
owns it), other things in it may use the same APIs, and disabling an API deletes its resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

#: What a cell needs: GKE and its network, DNS, KMS for secrets encryption, IAM, monitoring and logging.
CELL_SERVICES: tuple[str, ...] = (
    "cloudkms.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "dns.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
)


class ProjectServicesArgs(TypedDict):
    project: pulumi.Input[str]
    """The cell's project id."""
    services: Sequence[str]
    """API names to enable, e.g. container.googleapis.com (see CELL_SERVICES)."""


class ProjectServices(pulumi.ComponentResource):
    """Enables APIs; the other components list it in their `depends_on`, so they wait for every API."""

    services: dict[str, gcp.projects.Service]

    def __init__(
        self,
        name: str,
        args: ProjectServicesArgs,
        *,
        provider: gcp.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:gcp:ProjectServices", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        # Keyed by API name (a stable id): adding an API never renames another one's resource.
        self.services = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.', 1)[0]}",
                project=args["project"],
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child,
            )
            for api in sorted(set(args["services"]))
        }
        self.register_outputs({"services": sorted(self.services)})
