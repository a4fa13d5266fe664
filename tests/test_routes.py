"""Tenant routes (`cells.routes`): names, origins, the router store's value, and the routing settings' rules."""

from __future__ import annotations

import copy
import json

import pytest
from pydantic import ValidationError

from cells import routes
from cells.export import registry_document
from cells.loader import RegistryError, load_registry_data
from cells.models import Organization


def test_every_sample_tenant_has_one_route_to_its_cells_serving_host(registry):
    found = routes.routes(registry)
    assert [r.tenant for r in found] == sorted(t.id for t in registry.tenants)
    bank = next(r for r in found if r.tenant == "acme-bank")
    assert bank.name == "acme-bank.cells.acme-corp.net"
    assert bank.origin == f"web.{bank.cell}.cells.acme-corp.net"
    assert bank.ttl == 60
    assert routes.router_host(registry) == "app.cells.acme-corp.net"


def test_a_flip_routes_to_the_named_cell_and_reports_the_move(registry):
    tenant = next(t for t in registry.tenants if t.cell == "beta")
    flipped = routes.route_for(registry, tenant, cell="gamma", moving_to="gamma")
    assert flipped.origin == "web.gamma.cells.acme-corp.net"
    assert routes.parse_store_value(flipped.store_value()) == {
        "cell": "gamma",
        "origin": "web.gamma.cells.acme-corp.net",
        "moving_to": "gamma",
    }


@pytest.mark.parametrize("text", ["not json", "[1]", '{"cell": "a"}', '{"cell": 1, "origin": "x"}'])
def test_a_store_value_that_is_not_a_route_is_refused(text):
    with pytest.raises(ValueError, match="router store value"):
        routes.parse_store_value(text)


def test_a_store_value_over_the_stores_limit_is_refused():
    with pytest.raises(ValueError, match="over 1 KB"):
        routes.store_value("a", "x" * 1100)


def _org(registry, **routing):
    data = json.loads(registry.organization.model_dump_json())
    data["routing"] = {**data["routing"], **routing}
    return copy.deepcopy(data)


def test_ttls_out_of_order_are_refused(registry):
    with pytest.raises(ValidationError, match=r"moving_ttl_seconds \(5\) <= ttl_seconds \(600\) <= max_ttl_seconds"):
        Organization.model_validate(_org(registry, ttl_seconds=600))


def test_the_serving_component_must_exist(registry):
    """An organization-wide rule, so the loader's (the schema sees one field at a time)."""
    document = registry_document(registry)
    document["organization"] = _org(registry, component="frontend")
    with pytest.raises(RegistryError, match=r"routing.component 'frontend' is not one of the components"):
        load_registry_data(document)
    document["organization"] = _org(registry, component="api")
    assert load_registry_data(document).organization.routing.component == "api"
