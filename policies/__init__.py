"""Honeycomb's guardrails: a CrossGuard policy pack whose rules are plain objects.

`POLICIES` holds every rule (`ResourceValidationPolicy` / `StackValidationPolicy`). The pack
(`policies/__main__.py`, run by `pulumi preview --policy-pack policies`) and the offline plan
(`cellctl plan`, through `policies.evaluate`) use these same objects. Each rule names its
enforcement level; the pack's config can change it (`--policy-pack-config`, or
`cellctl plan --policy-config`).
"""

from __future__ import annotations

from pulumi_policy import Policy

from policies.capacity import node_capacity
from policies.clusters import cluster_hardening
from policies.exposure import s3_bucket_security, security_group_ingress
from policies.identity import iam_no_access_keys, iam_no_admin_wildcard, iam_trust_boundary, sso_session_duration
from policies.isolation import cell_isolation, no_cross_cell_references
from policies.keys import kms_key_policy
from policies.metric_sources import metric_sources
from policies.observability import cell_observability
from policies.placement import allowed_regions
from policies.protection import prod_protection
from policies.public import no_public_access
from policies.reachability import deploy_reachability
from policies.rotation import kms_key_rotation
from policies.routes import (
    tenant_records,
    tenant_route_isolation,
    tenant_route_names,
    tenant_route_targets,
    tenant_route_ttl,
)
from policies.tagging import required_tags
from policies.workloads import workload_hygiene

PACK_NAME = "honeycomb-guardrails"

#: Every rule, in the order of the README's list.
POLICIES: list[Policy] = [
    required_tags,
    cell_isolation,
    no_cross_cell_references,
    allowed_regions,
    s3_bucket_security,
    security_group_ingress,
    no_public_access,
    cluster_hardening,
    kms_key_rotation,
    kms_key_policy,
    iam_no_admin_wildcard,
    iam_trust_boundary,
    iam_no_access_keys,
    sso_session_duration,
    prod_protection,
    workload_hygiene,
    cell_observability,
    metric_sources,
    deploy_reachability,
    node_capacity,
    tenant_route_names,
    tenant_route_targets,
    tenant_route_isolation,
    tenant_route_ttl,
    tenant_records,
]

__all__ = ["PACK_NAME", "POLICIES"]
