"""Tenant routes (`cells.routes`): names, origins and the router store's value."""

from __future__ import annotations

import pytest

from cells import routes


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
