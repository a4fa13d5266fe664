"""Tenants in the registry: the sample, every rule (each with a registry that breaks it), capacity figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cellctl.main import app
from cells import RegistryError, load_registry
from cells.export import registry_document, to_json
from cells.loader import load_registry_data, parse_yaml
from cells.tenants import (
    CellCapacity,
    Residency,
    TenantEntry,
    TenantFile,
    capacities,
    capacity_warnings,
    dump_tenant_file,
    effective_limit,
    tenants_by_cell,
)

runner = CliRunner()


def errors(directory: Path) -> list[str]:
    with pytest.raises(RegistryError) as info:
        load_registry(directory)
    return [str(issue) for issue in info.value.issues]


def tenant(**fields: object) -> dict[str, object]:
    return {"id": "new-co", "display_name": "New Co", "environment": "prod", "daily_requests": 1000, **fields}


class TestSample:
    def test_every_cell_has_tenants(self, registry):
        grouped = tenants_by_cell(registry.tenants)
        assert set(grouped) == {c.name for c in registry.cells}
        assert registry.tenants == sorted(registry.tenants, key=lambda t: (t.cell, t.id))
        bank = next(t for t in registry.tenants if t.id == "acme-bank")
        assert (bank.cell, bank.pinned, bank.custom_domain) == ("alpha", True, "api.acmebank.com")
        assert bank.residency == Residency(regions=["us-east-1", "us-west-2", "us-central1"])

    def test_some_cells_are_near_their_limits_but_none_past_the_headroom_line(self, registry):
        pressures = {c.name: c.pressure for c in capacities(registry)}
        assert max(pressures.values()) > 0.8 >= min(pressures.values())
        assert capacity_warnings(registry) == []

    def test_files_round_trip_through_the_writer(self, registry):
        for cell, members in tenants_by_cell(registry.tenants).items():
            text = dump_tenant_file(cell, members)
            assert text.startswith("# yaml-language-server: $schema=../../schema/tenants.schema.json\n")
            assert TenantFile.model_validate(parse_yaml(text)).resolved() == members
            assert "pinned: false" not in text  # defaults left out: small diffs


class TestCapacities:
    def test_figures_per_cell(self, registry):
        alpha = next(c for c in capacities(registry) if c.name == "alpha")
        assert alpha == CellCapacity(
            name="alpha",
            environment="prod",
            region="us-east-1",
            cloud="aws",
            max_tenants=400,
            max_daily_requests=80_000_000,
            effective_max_tenants=340,
            effective_max_daily_requests=68_000_000,
            tenants=7,
            daily_requests=64_000_000,
        )
        assert alpha.pressure == pytest.approx(0.8) and not alpha.over_headroom and not alpha.over_limit

    def test_effective_limit_rounds_down(self):
        assert effective_limit(5, 15) == 4
        assert effective_limit(100, 0) == 100
        assert effective_limit(7, 90) == 0

    def test_headroom_comes_from_the_organization(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "organization.yaml", lambda d: d.update(capacity={"headroom_percent": 25}))
        reg = load_registry(registry_copy)
        assert reg.organization.capacity.headroom_percent == 25
        alpha = next(c for c in capacities(reg) if c.name == "alpha")
        assert (alpha.effective_max_tenants, alpha.effective_max_daily_requests) == (300, 60_000_000)
        # 64M of 80M is past a 25 % headroom line: a warning, not an error.
        assert any(
            w.startswith("tenants/alpha.yaml: tenants: cell 'alpha' holds 64,000,000") for w in capacity_warnings(reg)
        )


class TestRules:
    def test_unknown_cell(self, registry_copy):
        (registry_copy / "tenants/zeta.yaml").write_text("cell: zeta\ntenants: []\n")
        [message] = errors(registry_copy)
        assert message.endswith(
            "tenants/zeta.yaml: cell: no cell named 'zeta' in the registry (known cells: alpha, "
            "beta, dev-jdoe, gamma, staging)"
        )

    def test_file_named_after_another_cell(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "tenants/gamma.yaml", lambda d: d.update(cell="beta"))
        assert any(
            "tenants/gamma.yaml: cell: the tenants of cell 'beta' must live in beta.yaml" in e
            for e in errors(registry_copy)
        )

    def test_residency_by_region_and_by_cloud(self, registry_copy, edit_yaml):
        def change(d):
            d["tenants"][3]["residency"] = {"regions": ["eu-west-1", "europe-west1"]}
            d["tenants"][4]["residency"] = {"clouds": ["gcp"]}

        edit_yaml(registry_copy / "tenants/alpha.yaml", change)
        found = errors(registry_copy)
        assert len(found) == 2, found
        assert found[0].endswith(
            "alpha.yaml: tenants[3].residency: tenant 'delta-retail' may live only in regions "
            "eu-west-1, europe-west1; cell 'alpha' is aws us-east-1"
        )
        assert found[1].endswith(
            "tenants[4].residency: tenant 'ember-games' may live only in clouds gcp; cell 'alpha' is aws us-east-1"
        )

    def test_residency_allows(self):
        both = Residency(regions=["eu-west-1", "europe-west1"], clouds=["aws"])
        assert both.allows("aws", "eu-west-1")
        assert not both.allows("gcp", "europe-west1") and not both.allows("aws", "us-east-1")
        assert TenantEntry.model_validate(tenant()).allowed_in("gcp", "us-central1", "prod")
        assert not TenantEntry.model_validate(tenant()).allowed_in("gcp", "us-central1", "preprod")
        assert TenantEntry.model_validate(tenant(environment="sandbox")).allowed_in("aws", "us-west-2", "dev")

    def test_environments(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "tenants/staging.yaml", lambda d: d["tenants"].append(tenant()))
        edit_yaml(
            registry_copy / "tenants/alpha.yaml", lambda d: d["tenants"].append(tenant(id="sb", environment="sandbox"))
        )
        found = errors(registry_copy)
        assert len(found) == 2, found
        assert any(
            "alpha.yaml: tenants[7].environment: a sandbox tenant lives only in dev or preprod cells; 'sb' is "
            "in prod cell 'alpha'" in e
            for e in found
        )
        assert any(
            "staging.yaml: tenants[3].environment: a prod tenant lives only in prod cells; 'new-co' is in "
            "preprod cell 'staging'" in e
            for e in found
        )

    def test_sandbox_tenants_live_in_dev_cells_too(self, registry):
        assert {t.cell for t in registry.tenants if t.environment == "sandbox"} == {"staging", "dev-jdoe"}

    def test_over_either_limit_is_an_error(self, registry_copy, edit_yaml):
        def grow(d):
            d["tenants"].append(tenant(environment="sandbox", daily_requests=1))
            d["tenants"][2]["daily_requests"] = 60_000

        edit_yaml(registry_copy / "tenants/dev-jdoe.yaml", grow)
        found = errors(registry_copy)
        assert len(found) == 1, found  # 5 tenants is the limit itself, 100,001 requests is one over
        assert found[0].endswith(
            "tenants/dev-jdoe.yaml: tenants: cell 'dev-jdoe' holds 100,001 daily requests, over "
            "its limit capacity.max_daily_requests 100,000 (cells/dev-jdoe.yaml): move tenants "
            "out or raise the limit"
        )
        edit_yaml(
            registry_copy / "tenants/dev-jdoe.yaml",
            lambda d: d["tenants"].append(tenant(id="sixth", environment="sandbox")),
        )
        assert any("holds 6 tenants, over its limit capacity.max_tenants 5" in e for e in errors(registry_copy))

    def test_past_the_headroom_line_is_a_warning(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "tenants/dev-jdoe.yaml", lambda d: d["tenants"].append(tenant(environment="sandbox")))
        reg = load_registry(registry_copy)  # 5 of 5 tenants: within the limit
        assert capacity_warnings(reg) == [
            "tenants/dev-jdoe.yaml: tenants: cell 'dev-jdoe' holds 5 tenants, past its headroom line 4 "
            "(capacity.max_tenants 5 minus 15 %): plan a move or another cell"
        ]
        result = runner.invoke(app, ["validate", "--registry", str(registry_copy)])
        assert result.exit_code == 0
        assert "warning: tenants/dev-jdoe.yaml: tenants: cell 'dev-jdoe' holds 5 tenants" in result.stderr
        assert "1 warning" in result.stdout

    def test_duplicate_ids_and_domains_name_both_places(self, registry_copy, edit_yaml):
        edit_yaml(
            registry_copy / "tenants/gamma.yaml",
            lambda d: d["tenants"][0].update(id="acme-bank", custom_domain="portal.cedarhealth.org"),
        )
        found = errors(registry_copy)
        ids = [e for e in found if e.split(": ")[1].endswith(".id")]
        domains = [e for e in found if e.split(": ")[1].endswith(".custom_domain")]
        assert len(ids) == 2 and len(domains) == 2, found
        assert all("tenants/alpha.yaml: tenants[0]" in e and "tenants/gamma.yaml: tenants[0]" in e for e in ids)
        assert "'portal.cedarhealth.org' is used by more than one tenant" in domains[0]

    def test_every_error_at_once(self, registry_copy, edit_yaml):
        edit_yaml(
            registry_copy / "tenants/beta.yaml", lambda d: d["tenants"][0].update(pinned="yes", daily_requests=-5)
        )
        edit_yaml(registry_copy / "tenants/gamma.yaml", lambda d: d["tenants"].append(tenant(id="Bad", residency={})))
        found = errors(registry_copy)
        assert len(found) == 4, found
        assert any("beta.yaml: tenants[0].pinned: " in e for e in found)
        assert any("beta.yaml: tenants[0].daily_requests: " in e for e in found)
        assert any("gamma.yaml: tenants[4].id: 'Bad' is not a tenant id" in e for e in found)
        assert any("gamma.yaml: tenants[4].residency: residency must name regions, clouds or both" in e for e in found)

    def test_a_broken_cell_file_does_not_make_its_tenants_unknown(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d.update(colour="blue"))
        assert errors(registry_copy) == [f"{registry_copy}/cells/alpha.yaml: colour: unknown key"]

    def test_a_registry_without_tenant_files(self, registry_copy):
        for path in (registry_copy / "tenants").iterdir():
            path.unlink()
        assert load_registry(registry_copy).tenants == []


class TestExport:
    def test_export_carries_tenants_with_their_cell(self, registry):
        doc = json.loads(to_json(registry))
        assert len(doc["tenants"]) == len(registry.tenants) == 22
        assert {"id": "demo", "cell": "staging", "environment": "sandbox"}.items() <= next(
            t for t in doc["tenants"] if t["id"] == "demo"
        ).items()
        assert load_registry_data(doc) == registry

    def test_published_tenants_are_checked_too(self, registry):
        doc = registry_document(registry)
        doc["tenants"][0]["cell"] = "zeta"
        doc["tenants"][1]["environment"] = "sandbox"
        with pytest.raises(RegistryError) as info:
            load_registry_data(doc, source="registry.json")
        found = [str(i) for i in info.value.issues]
        assert "registry.json: tenants[0].cell: no cell named 'zeta' in the registry" in found[0]
        assert "registry.json: tenants[1].environment: a sandbox tenant lives only in dev or preprod cells" in found[1]
