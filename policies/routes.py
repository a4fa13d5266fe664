"""Tenant routes: the records in the organization's parent zone say what the registry says.

Every Route53 record in the parent zone (`aws.parent_zone_id`), in any stack, is one of: a cell's
delegation (NS at `<cell>.<domain>`), the router's name (A/AAAA alias at `<routing.host>.<domain>`,
and its certificate's validation CNAMEs `_<token>.<host>.<domain>`), or a tenant's name (CNAME at
`<tenant>.<domain>`, `cells.routes`). For a tenant's record:

- `tenant-route-names`: the name is one of those, with its type; any other name fires;
- `tenant-route-targets`: its one value is the origin of a cell in the registry whose environment
  the tenant may live in (`cells.tenants.CELL_ENVIRONMENTS`);
- `tenant-route-isolation`: that origin is the tenant's own registry cell's, never another cell
  holding other tenants;
- `tenant-route-ttl`: it has a TTL (Route53 requires one on a record that is not an alias) of at
  most `routing.max_ttl_seconds`;
- `tenant-records` (routing stack): every tenant has exactly one record; no name holds a CNAME
  beside another record (RFC 1034 3.6.2: Route53 refuses the change); no tenant record sets
  `allowOverwrite`, which would silently take over a record that exists already.

Names are read as Route53 does: case-insensitive, an optional final dot, a name without the zone's
domain relative to it. A value a rule cannot read is a finding; preview unknowns are skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ReportViolation

from cells import ROUTING_STACK, Registry
from cells.routes import cell_origin
from cells.tenants import CELL_ENVIRONMENTS, Tenant
from components.aws import routing_role
from policies.base import MANDATORY, UNKNOWN, Context, Provider, View, cannot_verify, known, resource_rule, stack_rule

RECORD = "aws:route53/record:Record"
ROUTER_TYPES = frozenset({"A", "AAAA"})


def is_routing_provider(provider: Provider | None, ctx: Context) -> bool:
    """A provider acting as the routing role (us-east-1 by necessity: Route53, CloudFront, its ACM)."""
    arn = routing_role.role_arn(ctx.registry.organization.aws.dns_account_id)
    return provider is not None and arn in provider.role_arns


@dataclass(frozen=True)
class ParentRecord:
    """A record of the parent zone: its normalized name and what that name belongs to."""

    name: str
    type: Any
    #: "tenant", "cell", "router", "validation" or None (no known owner).
    kind: str | None
    owner: str | None


def _normalized(name: str, domain: str) -> str:
    name = name.strip().rstrip(".").lower()
    return name if name == domain or name.endswith(f".{domain}") else f"{name}.{domain}"


def _owner(name: str, registry: Registry) -> tuple[str | None, str | None]:
    org = registry.organization
    domain = org.domain.lower()
    host = f"{org.routing.host}.{domain}"
    if name == host:
        return "router", org.routing.host
    if name.endswith(f".{host}") and name.startswith("_"):
        return "validation", org.routing.host
    label = name.removesuffix(f".{domain}")
    if "." in label or label == name:
        return None, None
    if any(c.name == label for c in registry.cells):
        return "cell", label
    if registry.find_tenant(label) is not None:
        return "tenant", label
    return None, None


def parent_record(resource: View, ctx: Context, report: Callable[[str], None]) -> ParentRecord | None:
    """The record's reading when it is in the parent zone (None: elsewhere, unknown, or reported unreadable)."""
    if resource.type != RECORD:
        return None
    zone, name = resource.props.get("zoneId"), resource.props.get("name")
    if zone is UNKNOWN or name is UNKNOWN:
        return None
    if not isinstance(zone, str):
        report(cannot_verify(f"the zone of {resource.label}", f"zoneId is {zone!r}, not a zone id"))
        return None
    if zone != ctx.registry.organization.aws.parent_zone_id:
        return None
    if not isinstance(name, str) or not name.strip():
        report(cannot_verify(f"what {resource.label} names", f"its name is {name!r}, not a DNS name"))
        return None
    normalized = _normalized(name, ctx.registry.organization.domain.lower())
    kind, owner = _owner(normalized, ctx.registry)
    kind_type = resource.props.get("type")
    return ParentRecord(normalized, kind_type.upper() if isinstance(kind_type, str) else kind_type, kind, owner)


def _tenant(ctx: Context, tenant_id: str) -> Tenant:
    tenant = ctx.registry.find_tenant(tenant_id)
    assert tenant is not None, tenant_id  # owners come from the registry's own tenants (`_owner`)
    return tenant


@resource_rule(
    "tenant-route-names",
    "A record in the parent zone is a cell's delegation (NS), the router's name (A/AAAA) or a tenant's name (CNAME).",
    MANDATORY,
    types=[RECORD],
)
def tenant_route_names(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    record = parent_record(resource, ctx, report)
    if record is None or not known(record.type):
        return
    expected = {"cell": {"NS"}, "router": ROUTER_TYPES, "validation": {"CNAME"}, "tenant": {"CNAME"}}
    if record.kind is None:
        report(
            f"{resource.label} writes {record.name} in the parent zone, which names no tenant, cell or the router: "
            "a tenant's record is <tenant>.<domain> for a tenant of the registry (cells/registry/tenants/)"
        )
    elif record.type not in expected[record.kind]:
        report(
            f"{resource.label} writes a {record.type} record at {record.name}, the name of {record.kind} "
            f"{record.owner!r}, which holds {' or '.join(sorted(expected[record.kind]))} records only "
            "(a CNAME coexists with no other record of its name)"
        )


def _target(resource: View, report: Callable[[str], None]) -> str | None:
    """The one value of a tenant's CNAME, normalized; None when unknown or reported."""
    records = resource.props.get("records")
    if records is UNKNOWN or (isinstance(records, list) and UNKNOWN in records):
        return None
    if not isinstance(records, list) or len(records) != 1 or not isinstance(records[0], str):
        report(
            cannot_verify(
                f"where {resource.label} points",
                f"its records are {records!r}; a tenant's CNAME holds exactly one host name, its cell's origin",
            )
        )
        return None
    return records[0].strip().rstrip(".").lower()


def _tenant_record(resource: View, ctx: Context, report: Callable[[str], None]) -> tuple[Tenant, str] | None:
    record = parent_record(resource, ctx, lambda message: None)  # unreadable zones and names: tenant-route-names
    if record is None or record.kind != "tenant" or record.owner is None:
        return None
    target = _target(resource, report)
    return (_tenant(ctx, record.owner), target) if target is not None else None


def _origins(registry: Registry) -> dict[str, str]:
    """Origin host -> the cell it is the serving component of."""
    return {cell_origin(registry, c.name).lower(): c.name for c in registry.cells}


@resource_rule(
    "tenant-route-targets",
    "A tenant's record points at the origin of an existing cell of an environment the tenant may live in.",
    MANDATORY,
    types=[RECORD],
)
def tenant_route_targets(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    found = _tenant_record(resource, ctx, report)
    if found is None:
        return
    tenant, target = found
    cell_name = _origins(ctx.registry).get(target)
    if cell_name is None:
        report(
            f"{resource.label} sends tenant {tenant.id} to {target}, which is no cell's origin "
            f"(<{ctx.registry.organization.routing.component}>.<cell>.<domain> of a registry cell)"
        )
        return
    cell = ctx.registry.cell(cell_name)
    allowed = CELL_ENVIRONMENTS[tenant.environment]
    if cell.environment not in allowed:
        report(
            f"{resource.label} sends {tenant.environment} tenant {tenant.id} to {cell.environment} cell {cell.name}; "
            f"a {tenant.environment} tenant lives only in {' or '.join(sorted(allowed))} cells"
        )


@resource_rule(
    "tenant-route-isolation",
    "No tenant's record points into another cell than the tenant's own registry cell.",
    MANDATORY,
    types=[RECORD],
)
def tenant_route_isolation(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    found = _tenant_record(resource, ctx, lambda message: None)  # unreadable values: tenant-route-targets
    if found is None:
        return
    tenant, target = found
    own = cell_origin(ctx.registry, tenant.cell).lower()
    other = _origins(ctx.registry).get(target)
    if target != own and other is not None:
        report(
            f"{resource.label} sends tenant {tenant.id} into cell {other}, which holds other tenants' data, not "
            f"{tenant.id}'s: its registry cell is {tenant.cell} ({own})"
        )


@resource_rule(
    "tenant-route-ttl",
    "A tenant's record has a TTL of at most routing.max_ttl_seconds.",
    MANDATORY,
    types=[RECORD],
)
def tenant_route_ttl(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    record = parent_record(resource, ctx, lambda message: None)
    if record is None or record.kind != "tenant":
        return
    ttl = resource.props.get("ttl")
    most = ctx.registry.organization.routing.max_ttl_seconds
    if ttl is UNKNOWN:
        return
    if ttl is None:
        report(f"{resource.label} has no TTL: Route53 requires one on a record that is not an alias")
    elif isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl != int(ttl):
        report(cannot_verify(f"the TTL of {resource.label}", f"it is {ttl!r}, not a whole number of seconds"))
    elif not 0 <= ttl <= most:
        report(
            f"{resource.label} has TTL {int(ttl)} s; a tenant's record may have at most {most} s "
            "(routing.max_ttl_seconds), so that a move's flip reaches every client within that"
        )


@stack_rule(
    "tenant-records",
    "The routing stack has exactly one record per tenant, no CNAME beside another record, none overwriting.",
    MANDATORY,
)
def tenant_records(resources: list[View], ctx: Context, report: ReportViolation) -> None:
    if not resources or resources[0].stack != ROUTING_STACK:
        return
    by_name: dict[str, list[tuple[View, ParentRecord]]] = defaultdict(list)
    tenants: dict[str, list[View]] = defaultdict(list)
    for resource in resources:
        record = parent_record(resource, ctx, lambda message: None)
        if record is None:
            continue
        by_name[record.name].append((resource, record))
        if record.kind == "tenant" and record.owner is not None:
            tenants[record.owner].append(resource)
            if resource.props.get("allowOverwrite") is True:
                report(
                    f"{resource.label} sets allowOverwrite, which takes over a record that exists already "
                    "(another tenant's, someone's by hand) instead of failing: leave it off",
                    resource.urn,
                )
    for tenant in sorted(t.id for t in ctx.registry.tenants):
        found = tenants.get(tenant, [])
        if len(found) != 1:
            names = ", ".join(r.name for r in found) or "none"
            report(
                f"tenant {tenant} has {len(found)} records in the routing stack ({names}); it needs exactly one", None
            )
    for name, records in sorted(by_name.items()):
        types = [r.type for _, r in records]
        if "CNAME" in types and len(records) > 1:
            holders = ", ".join(f"{v.name} ({t})" for v, t in zip((v for v, _ in records), types, strict=True))
            report(f"{name} holds a CNAME beside another record ({holders}): Route53 refuses that change", None)
