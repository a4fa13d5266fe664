"""What a cell runs, resolved from the registry: pure helpers that create no resources.

Scope: turning the organization's application components plus one cell's size and
overrides into the plain values the `Workloads` component takes, and the small rules
derived from them (pinned image references, autoscaling bounds). Non-goals: anything that
talks to a cluster; no Pulumi import here.
"""

from __future__ import annotations

import zlib
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


# --- the tenants' names ------------------------------------------------------------------------

#: Let's Encrypt issues at most this many certificates for one exact set of names per week (its
#: "Duplicate Certificate" limit): the reason every cell's tenant certificate also names the cell.
DUPLICATE_CERTIFICATE_LIMIT = 5


def wildcard_host(domain: str) -> str:
    """The Ingress host every tenant name `<tenant>.<domain>` matches (a wildcard matches one label only)."""
    return f"*.{domain}"


def wildcard_matches(wildcard: str, host: str) -> bool:
    """Kubernetes Ingress semantics: `*.foo.com` matches `bar.foo.com`, not `foo.com` nor `baz.bar.foo.com`."""
    label, _, rest = host.partition(".")
    return wildcard.startswith("*.") and bool(label) and rest == wildcard[2:]


def redundant_names(names: Sequence[str]) -> list[str]:
    """Names a wildcard of the same order already covers: Let's Encrypt refuses such an order (Boulder's
    check: a name whose first label replaced by `*` is also requested)."""
    wanted = set(names)
    return sorted(n for n in wanted if not n.startswith("*") and "*." + n.partition(".")[2] in wanted)


@dataclass(frozen=True)
class TenantNames:
    """The tenants' names one cell serves: `*.<domain>` on its serving component, with a certificate.

    The certificate names `*.<domain>` (DNS-01 in the parent zone) and the cell's own origin
    `<component>.<cell zone>` (HTTP-01, it already resolves to the cell), so no two cells ask for the
    same set of names. `origin` lies two labels under `domain`, so the wildcard does not cover it.
    """

    domain: str
    """The organization's domain."""
    component: str
    """The application component that serves tenants (`routing.component`)."""
    origin: str
    """That component's host in the cell's zone: where every tenant name of the cell points."""

    def __post_init__(self) -> None:
        if not self.origin.endswith(f".{self.domain}") or wildcard_matches(self.wildcard, self.origin):
            raise ValueError(
                f"the cell origin {self.origin!r} must lie at least two labels under {self.domain!r}: the "
                f"tenants' certificate names it beside {self.wildcard!r}, which must not cover it"
            )

    @property
    def wildcard(self) -> str:
        return wildcard_host(self.domain)

    def certificate_names(self) -> list[str]:
        return [self.wildcard, self.origin]


#: Route53 answers a query with at most this many records of a multivalue set: past it, resolvers (Let's
#: Encrypt's and cert-manager's self-check) each see a random 8 of the cells' `_acme-challenge.<domain>`
#: values, and authorizations fail at random (Route53 Developer Guide, "Multivalue answer routing").
MAX_CONCURRENT_CHALLENGES = 8
#: The tenants' certificate renews this long before it expires (Let's Encrypt's advice: a third of 90 days)...
RENEW_BEFORE_BASE_HOURS = 720
#: ...plus a per-cell offset under this many minutes, so cells issued together do not renew together.
RENEW_BEFORE_SPREAD_MINUTES = 24 * 60


def renew_before(cell: str) -> str:
    """The cell's `spec.renewBefore` (a Go duration): 720 h plus a stable offset of up to 24 h from the
    cell's name. Cells bootstrapped in one wave get their certificates within minutes of each other and,
    with one shared `renewBefore`, would all present `_acme-challenge.<domain>` again at the same moment
    every cycle; spread over a day, a renewal's few minutes of presentation rarely overlap. It stays far
    under cert-manager's requirement `duration > renewBefore` (90 days by default)."""
    offset = zlib.crc32(cell.encode()) % RENEW_BEFORE_SPREAD_MINUTES
    hours, minutes = divmod(offset, 60)
    return f"{RENEW_BEFORE_BASE_HOURS + hours}h{minutes}m"


def tenant_names(domain: str, component: str, cell: CellIdentity) -> TenantNames:
    return TenantNames(domain=domain, component=component, origin=cell.host(component))
