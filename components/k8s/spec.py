"""What a cell runs, resolved from the registry: pure helpers that create no resources.

Scope: turning the organization's application components plus one cell's size and
overrides into the plain values the `Workloads` component takes, and the small rules
derived from them (pinned image references, autoscaling bounds). Non-goals: anything that
talks to a cluster; no Pulumi import here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cells.models import AppComponent, CellBase, ComponentOverride, Size

#: The autoscaler may grow a component to this multiple of its base replica count.
HPA_MAX_FACTOR = 3


@dataclass(frozen=True)
class ComputeResources:
    """Requests of one pod's container; limits are the same values (Guaranteed QoS class)."""

    cpu: str
    """CPU in Kubernetes quantity form, e.g. `500m` or `1`."""
    memory: str
    """Memory in Kubernetes quantity form, e.g. `512Mi`."""


@dataclass(frozen=True)
class WorkloadSpec:
    """One application component as it runs in one cell (size applied, overrides applied)."""

    name: str
    """Component name; also its namespace, Deployment, Service and host name label."""
    image: str
    """Image reference pinned by tag or digest, never `latest`."""
    port: int
    """Container port that serves traffic and the health endpoint."""
    replicas: int
    """Base replica count: the Deployment's initial size and the autoscaler's minimum."""
    resources: ComputeResources
    """Requests and limits of the container."""
    health_path: str
    """HTTP path of the readiness and liveness probes."""

    @property
    def max_replicas(self) -> int:
        return self.replicas * HPA_MAX_FACTOR


@dataclass(frozen=True)
class CellIdentity:
    """Which cell the workloads run in; the pods learn it through environment variables."""

    name: str
    region: str
    domain: str
    """The cell's DNS zone, e.g. `alpha.cells.example.com`; hosts are `<component>.<domain>`."""
    environment: str

    def host(self, component: str) -> str:
        return f"{component}.{self.domain}"


def with_tag(image: str, tag: str) -> str:
    """`image` with its tag or digest replaced by `tag`.

    A registry host may carry a port (`registry:5000/acme/api:1.0`), so only a colon in the
    last path segment starts a tag.
    """
    repository = image.split("@", 1)[0]
    head, slash, last = repository.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}{slash}{last}:{tag}"


def resolve_component(component: AppComponent, size: Size, override: ComponentOverride | None = None) -> WorkloadSpec:
    """One component for a cell of `size`, with the cell's override (if any) applied."""
    image = component.image
    replicas = component.replicas[size]
    if override is not None:
        if override.image_tag is not None:
            image = with_tag(image, override.image_tag)
        if override.replicas is not None:
            replicas = override.replicas
    spec = component.resources[size]
    return WorkloadSpec(
        name=component.name,
        image=image,
        port=component.port,
        replicas=replicas,
        resources=ComputeResources(cpu=spec.cpu, memory=spec.memory),
        health_path=component.health_path,
    )


def resolve_components(
    components: Sequence[AppComponent], size: Size, overrides: Mapping[str, ComponentOverride] | None = None
) -> list[WorkloadSpec]:
    """Every component for a cell, in the organization's order (stable names, stable plans)."""
    overrides = overrides or {}
    return [resolve_component(c, size, overrides.get(c.name)) for c in components]


def cell_workloads(components: Sequence[AppComponent], cell: CellBase) -> list[WorkloadSpec]:
    """The components `cell` runs: its size and its own overrides, never another cell's."""
    return resolve_components(components, cell.size, cell.overrides)


def cell_identity(cell: CellBase, domain: str) -> CellIdentity:
    return CellIdentity(
        name=cell.name, region=cell.region, domain=cell.zone_name(domain), environment=str(cell.environment)
    )
