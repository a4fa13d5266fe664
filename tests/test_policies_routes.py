"""Tenant-route rules (`policies.routes`): each passes on the registry's records and fires on a broken one."""

from __future__ import annotations

from typing import Any

import pytest

from cells import Registry
from cells.routes import cell_origin
from policies.placement import allowed_regions
from policies.routes import (
    RECORD,
    tenant_records,
    tenant_route_isolation,
    tenant_route_names,
    tenant_route_targets,
    tenant_route_ttl,
)
from policies.testing import Stack

ZONE = "Z04185402XJ3EXAMPLE"
DOMAIN = "cells.acme-corp.net"
RULES = (tenant_route_names, tenant_route_targets, tenant_route_isolation, tenant_route_ttl, tenant_records)


def tenant(registry: Registry, tenant_id: str = "acme-bank") -> Any:
    return next(t for t in registry.tenants if t.id == tenant_id)


def record(stack: Stack, name: str, records: Any, *, type_: str = "CNAME", ttl: Any = 60, **extra: Any) -> Any:
    inputs = {"zoneId": ZONE, "name": name, "type": type_, "ttl": ttl, "records": records, **extra}
    return stack.add(RECORD, f"route-{name.split('.')[0]}", {k: v for k, v in inputs.items() if v is not None})


def routing_stack(registry: Registry, **changes: dict[str, Any]) -> Stack:
    """The records the routing stack makes, one per tenant, with `changes` (tenant id -> inputs) applied."""
    stack = Stack("routing")
    for t in registry.tenants:
        inputs = {"records": [cell_origin(registry, t.cell)], **changes.get(t.id, {})}
        record(stack, inputs.pop("name", f"{t.id}.{DOMAIN}"), **inputs)
    return stack


def messages(stack: Stack, registry: Registry, *rules: Any) -> list[str]:
    return [f.message for f in stack.findings(registry, *rules)]


def test_the_registrys_records_pass_every_rule(registry: Registry) -> None:
    assert messages(routing_stack(registry), registry, *RULES) == []


def test_a_cells_delegation_and_the_routers_names_pass(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    record(stack, f"alpha.{DOMAIN}", ["ns-1.awsdns-01.com"], type_="NS", ttl=172800)
    record(stack, f"app.{DOMAIN}", None, type_="A", ttl=None, aliases=[{"name": "d1.cloudfront.net"}])
    record(stack, f"_3f1a.app.{DOMAIN}.", ["_x.acm-validations.aws."], ttl=300)
    assert messages(stack, registry, *RULES) == []


def test_records_of_other_zones_are_not_judged(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add(RECORD, "alpha-ingress", {"zoneId": "ZCELL", "name": f"*.alpha.{DOMAIN}", "type": "CNAME", "ttl": 9999})
    assert messages(stack, registry, *RULES) == []


@pytest.mark.parametrize(
    ("name", "type_", "expected"),
    [
        (f"nobody.{DOMAIN}", "CNAME", "names no tenant, cell or the router"),
        (f"deep.acme-bank.{DOMAIN}", "CNAME", "names no tenant, cell or the router"),
        ("stray", "CNAME", "stray.cells.acme-corp.net in the parent zone, which names no tenant"),
        (f"alpha.{DOMAIN}", "CNAME", "the name of cell 'alpha', which holds NS records only"),
        (f"ACME-BANK.{DOMAIN}.", "A", "the name of tenant 'acme-bank', which holds CNAME records only"),
    ],
)
def test_a_record_naming_no_tenant_or_of_the_wrong_type_fires(
    registry: Registry, name: str, type_: str, expected: str
) -> None:
    stack = Stack("routing")
    record(stack, name, ["web.alpha.cells.acme-corp.net"], type_=type_)
    [message] = messages(stack, registry, tenant_route_names)
    assert expected in message


def test_an_unreadable_name_or_zone_cannot_be_verified(registry: Registry) -> None:
    stack = Stack("routing")
    stack.add(RECORD, "route-x", {"zoneId": ZONE, "name": 42, "type": "CNAME"})
    stack.add(RECORD, "route-y", {"zoneId": ["Z"], "name": "y", "type": "CNAME"})
    found = messages(stack, registry, tenant_route_names)
    assert len(found) == 2 and all(m.startswith("cannot verify") for m in found), found


def test_a_relative_name_is_read_in_the_parent_zone(registry: Registry) -> None:
    stack = Stack("routing")
    record(stack, "acme-bank", [cell_origin(registry, tenant(registry).cell)])
    assert messages(stack, registry, tenant_route_names, tenant_route_targets, tenant_route_isolation) == []


def test_a_record_to_no_cells_origin_fires(registry: Registry) -> None:
    stack = routing_stack(registry, **{"acme-bank": {"records": ["web.omega.cells.acme-corp.net"]}})
    [message] = messages(stack, registry, tenant_route_targets)
    assert "sends tenant acme-bank to web.omega.cells.acme-corp.net, which is no cell's origin" in message


def test_a_record_to_a_cell_of_the_wrong_environment_fires(registry: Registry) -> None:
    bank = tenant(registry)
    assert str(bank.environment) == "prod"
    staging = cell_origin(registry, "staging")
    stack = routing_stack(registry, **{bank.id: {"records": [staging + "."]}})
    found = messages(stack, registry, tenant_route_targets)
    assert found == [
        f"route-acme-bank ({RECORD}) sends prod tenant acme-bank to preprod cell staging; "
        "a prod tenant lives only in prod cells"
    ]


@pytest.mark.parametrize("records", [[], ["a", "b"], "web.alpha.cells.acme-corp.net", [7]])
def test_a_record_whose_value_cannot_be_read_fires(registry: Registry, records: Any) -> None:
    stack = routing_stack(registry, **{"acme-bank": {"records": records}})
    [message] = messages(stack, registry, tenant_route_targets)
    assert message.startswith(f"cannot verify where route-acme-bank ({RECORD}) points")


def test_a_record_into_another_tenants_cell_fires(registry: Registry) -> None:
    bank = tenant(registry)
    other = next(
        c for c in registry.cells if c.name != bank.cell and c.environment == registry.cell(bank.cell).environment
    )
    stack = routing_stack(registry, **{bank.id: {"records": [cell_origin(registry, other.name)]}})
    assert messages(stack, registry, tenant_route_targets) == []  # a cell the tenant may live in...
    [message] = messages(stack, registry, tenant_route_isolation)  # ...but not the one holding its data
    assert f"sends tenant acme-bank into cell {other.name}, which holds other tenants' data" in message
    assert f"its registry cell is {bank.cell}" in message


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        (301, "has TTL 301 s; a tenant's record may have at most 300 s"),
        (-1, "has TTL -1 s"),
        (None, "has no TTL: Route53 requires one"),
        ("60", "cannot verify the TTL"),
        (True, "cannot verify the TTL"),
    ],
)
def test_a_ttl_over_the_maximum_or_unreadable_fires(registry: Registry, ttl: Any, expected: str) -> None:
    stack = routing_stack(registry, **{"acme-bank": {"ttl": ttl}})
    [message] = messages(stack, registry, tenant_route_ttl)
    assert expected in message


def test_the_maximum_ttl_itself_passes(registry: Registry) -> None:
    most = registry.organization.routing.max_ttl_seconds
    assert messages(routing_stack(registry, **{"acme-bank": {"ttl": most}}), registry, tenant_route_ttl) == []


def test_a_missing_or_doubled_tenant_record_fires(registry: Registry) -> None:
    stack = routing_stack(registry)
    stack.resources = [r for r in stack.resources if r.name != "route-demo"]
    bank = cell_origin(registry, tenant(registry).cell)
    stack.add(
        RECORD, "route-acme-bank-again", {"zoneId": ZONE, "name": "acme-bank", "type": "CNAME", "records": [bank]}
    )
    found = messages(stack, registry, tenant_records)
    assert "tenant acme-bank has 2 records in the routing stack (route-acme-bank, route-acme-bank-again)" in found[0]
    assert "tenant demo has 0 records in the routing stack (none); it needs exactly one" in found[1]
    assert "acme-bank.cells.acme-corp.net holds a CNAME beside another record" in found[2]
    assert len(found) == 3


def test_allow_overwrite_fires(registry: Registry) -> None:
    stack = routing_stack(registry, **{"acme-bank": {"allowOverwrite": True}})
    [finding] = stack.findings(registry, tenant_records)
    assert "sets allowOverwrite, which takes over a record that exists already" in finding.message
    assert finding.urn == next(r.urn for r in stack.resources if r.name == "route-acme-bank")


def test_the_record_rule_is_the_routing_stacks_only(registry: Registry) -> None:
    stack = routing_stack(registry)
    stack.name = "management"
    stack.resources = []
    assert messages(stack, registry, tenant_records) == []


def test_preview_unknowns_are_skipped(registry: Registry) -> None:
    from policies.base import UNKNOWN

    stack = Stack("routing")
    stack.add(RECORD, "route-a", {"zoneId": UNKNOWN, "name": "x", "type": "CNAME"})
    stack.add(RECORD, "route-b", {"zoneId": ZONE, "name": UNKNOWN, "type": "CNAME"})
    stack.add(
        RECORD, "route-c", {"zoneId": ZONE, "name": "acme-bank", "type": "CNAME", "records": UNKNOWN, "ttl": UNKNOWN}
    )
    rules = (tenant_route_names, tenant_route_targets, tenant_route_isolation, tenant_route_ttl)
    assert messages(stack, registry, *rules) == []


def test_the_routing_provider_may_be_in_us_east_1_whatever_the_allowed_regions(registry: Registry) -> None:
    org = registry.organization
    narrow = registry.model_copy(
        update={
            "organization": org.model_copy(
                update={"aws": org.aws.model_copy(update={"allowed_regions": ["eu-west-1"]})}
            )
        }
    )
    stack = Stack("routing")
    role = "honeycomb-routing"
    stack.aws_provider("routing", account=org.aws.dns_account_id, role=role)
    assert messages(stack, narrow, allowed_regions) == []
    stack.aws_provider("other", account=org.aws.dns_account_id, role="OrganizationAccountAccessRole")
    [message] = messages(stack, narrow, allowed_regions)
    assert "us-east-1" in message
