"""Tenant routes: the public name each tenant is reached by, and the cell origin behind it.

One place computes them so the routing stack (DNS records and the router's store), the router's
function, the published registry, `cells.client.endpoint_for`, the policies and `cellctl tenants
move` all agree. Pure data: no Pulumi, no I/O.

A tenant's name is `<tenant>.<domain>`, a CNAME to its cell's origin `<component>.<cell>.<domain>`
(`Organization.routing.component`, the component that serves tenants). The router on
`<routing.host>.<domain>` looks the tenant up in a key-value store whose value is `store_value`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cells.models import Registry
    from cells.tenants import Tenant

#: CloudFront KeyValueStore limits (CloudFront developer guide, "Quotas on key value stores"): a key
#: of at most 512 bytes, a value of at most 1 KB.
STORE_KEY_MAX_BYTES = 512
STORE_VALUE_MAX_BYTES = 1024


@dataclass(frozen=True)
class Route:
    """Where one tenant is reached: its record `name` points at `origin`, the cell's serving host."""

    tenant: str
    cell: str
    name: str
    origin: str
    ttl: int
    #: The cell the tenant is moving to, while a move runs (the router reports it).
    moving_to: str | None = None

    def store_value(self) -> str:
        return store_value(self.cell, self.origin, self.moving_to)


def tenant_host(tenant_id: str, domain: str) -> str:
    """The tenant's public name: `<tenant>.<domain>`."""
    return f"{tenant_id}.{domain}"


def router_host(registry: Registry) -> str:
    """The thin router's host name: `<routing.host>.<domain>`."""
    org = registry.organization
    return f"{org.routing.host}.{org.domain}"


def cell_origin(registry: Registry, cell_name: str) -> str:
    """The host a tenant's traffic goes to in `cell_name`: its serving component's name in the cell's zone."""
    org = registry.organization
    return registry.cell(cell_name).endpoint(org.routing.component, org.domain)


def route_for(registry: Registry, tenant: Tenant, *, cell: str | None = None, moving_to: str | None = None) -> Route:
    """The route of `tenant`, in its registry cell unless `cell` says otherwise (a move's flip)."""
    org = registry.organization
    target = cell or tenant.cell
    return Route(
        tenant=tenant.id,
        cell=target,
        name=tenant_host(tenant.id, org.domain),
        origin=cell_origin(registry, target),
        ttl=org.routing.ttl_seconds,
        moving_to=moving_to,
    )


def routes(registry: Registry) -> list[Route]:
    """Every tenant's route, sorted by tenant id."""
    return [route_for(registry, t) for t in sorted(registry.tenants, key=lambda t: t.id)]


def store_value(cell: str, origin: str, moving_to: str | None = None) -> str:
    """The router store's value for a tenant: compact JSON the CloudFront Function parses."""
    doc: dict[str, Any] = {"cell": cell, "origin": origin}
    if moving_to is not None:
        doc["moving_to"] = moving_to
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > STORE_VALUE_MAX_BYTES:
        raise ValueError(f"router store value for cell {cell!r} is {len(text.encode())} bytes, over 1 KB")
    return text


def parse_store_value(text: str) -> dict[str, Any]:
    """The inverse of `store_value`; a value that is not one is a `ValueError` naming it."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"router store value {text!r} is not JSON: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cell"), str) or not isinstance(doc.get("origin"), str):
        raise ValueError(f"router store value {text!r} is not an object with string `cell` and `origin`")
    return doc
