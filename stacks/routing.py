"""The routing stack: every tenant's public name and the thin router, in the DNS account.

`pulumi up --stack routing` owns, from the registry (no stack reference: the role's ARN and every
origin follow from it) and one secret of its stack config, `honeycomb:routerOriginSecret` (the
router key CloudFront sends every cell in `x-honeycomb-router-key`; required, a Pulumi secret):

- per tenant a CNAME `<tenant>.<domain>` -> its cell's origin `<routing.component>.<cell>.<domain>`
  (the cell's own zone answers it with its ingress) in the organization's parent zone, TTL
  `routing.ttl_seconds` (`components.aws.tenant_names`);
- the router on `<routing.host>.<domain>` (`components.aws.tenant_router`): CloudFront, its
  function and the key-value store whose keys are the tenants.

The stack owns existence; a move owns values: `cellctl tenants move` flips a tenant's record and
store key directly, and the records ignore changes to `records` and `ttl`. Adding or removing a
tenant adds or removes its record (`route-<tenant>`) and key only.

Provider: `routing`, the routing role in the DNS account (`components.aws.routing_role`, made by
the management stack), in us-east-1: Route53 is global with its API there, and CloudFront takes
its certificate (ACM) and its functions from us-east-1 only, so one provider serves the records
and the router. Runs after the management stack (the role) and the cells (the zones the origins
are in): `cellctl.rollout.plan` puts it last.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from cells import MANAGED_BY, Registry
from cells.routes import Route, cell_origin, router_host, routes
from components.aws import routing_role
from components.aws.tenant_names import TenantName, TenantNames
from components.aws.tenant_router import ROUTER_KEY_HEADER, TenantRouter, TenantRouterArgs

PROVIDER_NAME = "routing"
#: Child records are `route-<tenant>`: their names never depend on another tenant.
RECORDS_NAME = "route"
#: Stack config (secret): the router's origin key, the value of `ROUTER_KEY_HEADER` cells check.
ROUTER_SECRET_CONFIG = "routerOriginSecret"  # noqa: S105 - a config key, not a credential
STACK_FILE = "stacks/Pulumi.routing.yaml"


class RoutingConfigError(ValueError):
    """The routing stack's config is wrong; the message names the file and key and says how to fix it."""


def router_key(config: pulumi.Config) -> pulumi.Output[str]:
    """The router's origin key: a required secret, so a missing or plaintext one stops the program."""
    key = f"{config.name}:{ROUTER_SECRET_CONFIG}"
    fix = (
        f'set it with `pulumi config set --secret --stack routing {key} "$(openssl rand -hex 32)"` and commit '
        f"{STACK_FILE}; every cell checks it in the {ROUTER_KEY_HEADER} header"
    )
    if config.get(ROUTER_SECRET_CONFIG) is None:
        raise RoutingConfigError(f"{STACK_FILE}: {key} is missing: {fix}")
    if not pulumi.runtime.is_config_secret(key):
        raise RoutingConfigError(f"{STACK_FILE}: {key} is in plain text: {fix}")
    return config.require_secret(ROUTER_SECRET_CONFIG)


def provider(registry: Registry) -> aws.Provider:
    """The DNS account through the routing role, pinned to that account, in us-east-1."""
    aws_org = registry.organization.aws
    return aws.Provider(
        PROVIDER_NAME,
        region=routing_role.REGION,
        allowed_account_ids=[aws_org.dns_account_id],
        assume_roles=[
            aws.ProviderAssumeRoleArgs(
                role_arn=routing_role.role_arn(aws_org.dns_account_id), session_name=routing_role.STACK_SESSION
            )
        ],
        default_tags=aws.ProviderDefaultTagsArgs(tags={"managed-by": MANAGED_BY}),
    )


def program(registry: Registry) -> None:
    zone_id = registry.organization.aws.parent_zone_id
    # Read first: a config error stops the program before any resource is registered.
    secret = router_key(pulumi.Config()) if registry.cells else None
    dns = provider(registry)
    every = routes(registry)
    names = TenantNames(
        RECORDS_NAME,
        {"zone_id": zone_id, "names": {r.tenant: TenantName(r.name, r.origin, r.ttl) for r in every}},
        provider=dns,
    )
    pulumi.export("tenantNames", names.fqdns)
    pulumi.export("routerHost", router_host(registry))
    if secret is not None:  # no cells: nothing to route to
        router = _router(registry, every, zone_id, dns, secret)
        # What a move's flip reads (the store's ARN) and operators look for, under the component's names.
        pulumi.export("router", {key: getattr(router, key) for key in ROUTER_OUTPUTS})


#: The router component's outputs the stack exports under `router`.
ROUTER_OUTPUTS = ("store_arn", "store_id", "function_arn", "distribution_id", "distribution_domain", "url")


def _router(
    registry: Registry, every: list[Route], zone_id: str, dns: aws.Provider, key: pulumi.Output[str]
) -> TenantRouter:
    """The router component.

    The distribution's default origin is the first cell's serving host: the function replaces it
    per request, so it only sets the connection settings (and the router key) every origin inherits.
    """
    args = TenantRouterArgs(
        routes=every,
        host=router_host(registry),
        zone_id=zone_id,
        default_origin=cell_origin(registry, registry.cells[0].name),
        router_key=key,
    )
    return TenantRouter("router", args, provider=dns)
