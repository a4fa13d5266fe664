"""The published registry's routes and `cells.client`'s `endpoint_for` / `route_for`, read back from a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cells import Registry, RegistryError
from cells.client import PublishedRegistry, UnknownTenantError, load
from cells.export import registry_document, to_json
from cells.routes import Route, route_for


def published(tmp_path: Path, text: str) -> PublishedRegistry:
    path = tmp_path / "registry.json"
    path.write_text(text)
    return load(str(path))


def test_the_document_carries_every_tenants_route(registry: Registry) -> None:
    doc = registry_document(registry)
    assert [r["tenant"] for r in doc["routes"]] == sorted(t.id for t in registry.tenants)
    bank = next(r for r in doc["routes"] if r["tenant"] == "acme-bank")
    assert bank == {
        "tenant": "acme-bank",
        "cell": "alpha",
        "name": "acme-bank.cells.acme-corp.net",
        "origin": "web.alpha.cells.acme-corp.net",
        "ttl": 60,
    }


def test_endpoint_for_is_the_tenants_own_name_and_route_for_its_route(tmp_path: Path, registry: Registry) -> None:
    reg = published(tmp_path, to_json(registry))
    assert reg.registry == registry  # the round trip keeps the registry as it was
    assert reg.endpoint_for("acme-bank") == "acme-bank.cells.acme-corp.net"
    bank = next(t for t in registry.tenants if t.id == "acme-bank")
    assert reg.route_for("acme-bank") == route_for(registry, bank)
    assert isinstance(reg.route_for("acme-bank"), Route)


def test_the_endpoint_stays_when_the_tenant_moves(tmp_path: Path, registry: Registry) -> None:
    mover = next(t for t in registry.tenants if t.residency is None and t.cell == "alpha")
    moved = registry.model_copy(
        update={"tenants": [t.model_copy(update={"cell": "gamma"}) if t is mover else t for t in registry.tenants]}
    )
    before, after = published(tmp_path, to_json(registry)), published(tmp_path, to_json(moved))
    assert before.endpoint_for(mover.id) == after.endpoint_for(mover.id) == f"{mover.id}.cells.acme-corp.net"
    assert (before.route_for(mover.id).origin, after.route_for(mover.id).origin) == (
        "web.alpha.cells.acme-corp.net",
        "web.gamma.cells.acme-corp.net",
    )


def test_an_unknown_tenant_is_a_clear_lookup_error(tmp_path: Path, registry: Registry) -> None:
    reg = published(tmp_path, to_json(registry))
    with pytest.raises(UnknownTenantError, match=rf"no tenant 'nobody' .*\({len(registry.tenants)} tenants known\)"):
        reg.endpoint_for("nobody")
    with pytest.raises(LookupError):
        reg.route_for("nobody")


def test_a_document_without_routes_is_read(tmp_path: Path, registry: Registry) -> None:
    """An older publication, before routes: the routes come from the registry it holds."""
    doc = registry_document(registry)
    del doc["routes"]
    assert published(tmp_path, json.dumps(doc)).endpoint_for("demo") == "demo.cells.acme-corp.net"


def test_routes_that_disagree_with_the_registry_are_refused(tmp_path: Path, registry: Registry) -> None:
    doc = registry_document(registry)
    doc["routes"][0]["origin"] = "web.elsewhere.example.com"
    doc["routes"].pop()
    with pytest.raises(RegistryError) as caught:
        published(tmp_path, json.dumps(doc))
    messages = {i.path: i.message for i in caught.value.issues}
    assert "is not the route the registry gives tenant" in messages["routes[0]"]
    assert messages["routes"] == f"no route for tenants {sorted(t.id for t in registry.tenants)[-1]}"
    doc["routes"] = {"not": "a list"}
    with pytest.raises(RegistryError, match="expected a list of routes"):
        published(tmp_path, json.dumps(doc))
