"""Rule 1: every taggable AWS and GCP resource carries the cell's `cell`, `environment` and `managed-by`.

Tags may come from the resource itself or from its provider's `defaultTags` (AWS) /
`defaultLabels` (GCP); the rule merges both, as the cloud does. Whether a type is taggable
comes from the SDK's schema (`policies.base.tag_field`). In the management stack, which
belongs to no cell, only `managed-by` is required.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cells import MANAGED_BY
from policies.base import MANDATORY, UNKNOWN, Context, View, get, known, package_of, resource_rule, tag_field

REQUIRED = ("cell", "environment", "managed-by")


def provider_defaults(resource: View) -> Any:
    """The provider's default tags (AWS) or labels (GCP) for this resource; `UNKNOWN` if not known."""
    if resource.provider is None:
        return {}
    if package_of(resource.type) == "aws":
        defaults = get(resource.provider.props, "defaultTags", "tags")
    else:
        defaults = resource.provider.props.get("defaultLabels")
    if defaults is UNKNOWN:
        return UNKNOWN
    return defaults if isinstance(defaults, dict) else {}


def expected_tags(resource: View, ctx: Context) -> dict[str, str | None]:
    """Required key -> required value (None: any value) for the resource's stack."""
    cell = ctx.cell(resource.stack)
    if cell is not None:
        return dict(cell.tags)
    if resource.stack.startswith("cell-"):
        return dict.fromkeys(REQUIRED)
    return {"managed-by": MANAGED_BY}


@resource_rule(
    "required-tags",
    "Taggable AWS and GCP resources carry the cell's `cell`, `environment` and `managed-by` tags (GCP: labels).",
    MANDATORY,
)
def required_tags(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    if package_of(resource.type) not in ("aws", "gcp"):
        return
    field = tag_field(resource.type)
    if field is None:
        return
    own = resource.props.get(field)
    defaults = provider_defaults(resource)
    if own is UNKNOWN or defaults is UNKNOWN:
        return
    tags = {**defaults, **(own if isinstance(own, dict) else {})}
    kind = "tags" if package_of(resource.type) == "aws" else "labels"
    missing = [key for key in expected_tags(resource, ctx) if key not in tags]
    if missing:
        report(
            f"{resource.label} lacks the {kind} {', '.join(missing)}: set them on the resource or in its "
            f"provider's default {kind}"
        )
    for key, value in expected_tags(resource, ctx).items():
        actual = tags.get(key)
        if value is not None and known(actual) and actual != value:
            report(f"{resource.label} has {kind[:-1]} {key}={actual!r}, expected {value!r} for stack {resource.stack}")
