"""Rule 4: resources live only in the organization's allowed regions, per cloud.

Checked on providers (`region`, GCP `zone`) and on resources that name a region themselves
(AWS v7 per-resource `region`; GCP `region`, `zone` and a region- or zone-shaped `location`). GCP
multi-regions (`EU`, `US`) and `global` name no single region and are left alone. The DNS
delegation provider is exempt: Route53 is global and its region is fixed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from policies.base import MANDATORY, Context, Provider, View, decode_json, package_of, resource_rule
from policies.isolation import is_delegation_provider

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
        if is_delegation_provider(resource_as_provider(resource), ctx):
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
    for region in regions:
        if isinstance(region, str) and region and region not in allowed:
            report(f"{resource.label} is in {cloud} region {region}; allowed: {', '.join(allowed)}")
            return


def resource_as_provider(resource: View) -> Provider:
    """A provider resource seen the way the resources using it see it."""
    return Provider(resource.type, resource.name, resource.urn, {k: decode_json(v) for k, v in resource.props.items()})
