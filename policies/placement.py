"""Rule 4: resources live only in the organization's allowed regions, per cloud.

Checked on providers (`region`, GCP `zone`), on resources that name a region themselves
(AWS v7 per-resource `region`; GCP `region`, `zone` and a region- or zone-shaped `location`), and
on resources of a default provider, whose region comes from the stack config (`aws:region`,
`gcp:region`). A region that is not a string is a finding. GCP
multi-regions (`EU`, `US`) and `global` name no single region and are left alone. The DNS
delegation and routing providers are exempt: Route53 and CloudFront are global, their APIs (and
CloudFront's certificates and functions) in us-east-1.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from policies.base import (
    MANDATORY,
    Context,
    Provider,
    View,
    cannot_verify,
    is_provider_type,
    known,
    make_provider,
    package_of,
    resource_rule,
)
from policies.isolation import is_delegation_provider
from policies.routes import is_routing_provider

_GCP_REGION = re.compile(r"^([a-z]+-[a-z]+\d+)(-[a-z])?$")


def _gcp_region(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    found = _GCP_REGION.match(value.lower())
    return found.group(1) if found else None


@resource_rule(
    "allowed-regions",
    "Every resource is in one of the organization's allowed regions for its cloud.",
    MANDATORY,
)
def allowed_regions(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    org = ctx.registry.organization
    props = resource.props
    if resource.type == "pulumi:providers:aws":
        as_provider = resource_as_provider(resource)
        if is_delegation_provider(as_provider, ctx) or is_routing_provider(as_provider, ctx):
            return
        cloud, allowed, regions = "AWS", org.aws.allowed_regions, [props.get("region")]
    elif resource.type == "pulumi:providers:gcp":
        cloud, allowed = "GCP", org.gcp.allowed_regions
        regions = [props.get("region"), _gcp_region(props.get("zone"))]
    elif package_of(resource.type) == "aws":
        cloud, allowed, regions = "AWS", org.aws.allowed_regions, [props.get("region")]
    elif package_of(resource.type) == "gcp":
        cloud, allowed = "GCP", org.gcp.allowed_regions
        regions = [_gcp_region(props.get(key)) for key in ("region", "location", "zone")]
    else:
        return
    provider = resource.provider
    if provider is not None and provider.is_default and not is_provider_type(resource.type):
        # A default provider is configured by the stack config (`aws:region`): offline it is no resource of its own.
        regions.append(provider.props.get("region"))
    for region in regions:
        if known(region) and not isinstance(region, str):
            report(cannot_verify(f"where {resource.label} is", f"its region is {region!r}"))
            return
        if isinstance(region, str) and region and region not in allowed:
            report(f"{resource.label} is in {cloud} region {region}; allowed: {', '.join(allowed)}")
            return


def resource_as_provider(resource: View) -> Provider:
    """A provider resource seen the way the resources using it see it."""
    return make_provider(resource.type, resource.name, resource.urn, resource.props)
